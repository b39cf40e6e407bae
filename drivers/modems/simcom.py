"""SIMCom modems (SIM800 family): a bare AT+CCID answer and boot lines, declared as quirks."""

from __future__ import annotations

from typing import ClassVar

from simhost_drivers.modems.generic import GenericDriver
from simhost_drivers.modems.types import IccidQuery, Quirks


class SimcomDriver(GenericDriver):
    """SIMCom SIM800/SIM900 and relatives."""

    name: ClassVar[str] = "simcom"
    DEFAULT_QUIRKS: ClassVar[Quirks] = Quirks(
        manufacturers=("SIMCOM",),
        model_prefixes=("SIM8", "SIM9", "SIMCOM"),
        hangup_command="ATH",
        iccid_queries=(IccidQuery("AT+CCID"),),
        boot_lines=("RDY", "Call Ready", "SMS Ready"),
        # A SIM800L offers "SM", "ME" and the store-preference variants "SM_P", "ME_P", "MT" in each AT+CPMS=?
        # group; SM keeps a message with its SIM across slot switches, and the variants are never drained on
        # their own (see storages_to_drain).
        receive_storage="SM",
    )
