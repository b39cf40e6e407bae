"""SIMCom modems (SIM800 family): a bare AT+CCID answer and boot lines, declared as quirks."""

from __future__ import annotations

from typing import ClassVar

from simhost_drivers.modems.generic import GenericDriver
from simhost_drivers.modems.types import IccidQuery, Quirks


class SimcomDriver(GenericDriver):
    """SIMCom SIM800/SIM900 and relatives."""

    name: ClassVar[str] = "simcom"
    DEFAULT_QUIRKS: ClassVar[Quirks] = Quirks(
        hangup_command="ATH",
        iccid_queries=(IccidQuery("AT+CCID"),),
        boot_lines=("RDY", "Call Ready", "SMS Ready"),
    )

    @classmethod
    def matches(cls, manufacturer: str, model: str) -> bool:
        return ("SIMCOM" in manufacturer.upper()
                or model.upper().startswith(("SIM8", "SIM9", "SIMCOM")))
