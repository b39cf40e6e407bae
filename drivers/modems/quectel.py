"""Quectel modems (EC25 and relatives): AT+QCCID, AT+CHUP, `+QIND` reports, as quirks."""

from __future__ import annotations

from typing import ClassVar

from simhost_drivers.modems.generic import GenericDriver
from simhost_drivers.modems.types import GENERIC_TRANSIENT_ERRORS, IccidQuery, Quirks, TransientError


class QuectelDriver(GenericDriver):
    """Quectel EC2x/EG9x/UC20/M95 modems."""

    name: ClassVar[str] = "quectel"
    DEFAULT_QUIRKS: ClassVar[Quirks] = Quirks(
        manufacturers=("QUECTEL",),
        hangup_command="AT+CHUP",
        iccid_queries=(IccidQuery("AT+QCCID", "+QCCID:"),),
        noise_prefixes=("+QIND:", "+QUSIM:"),
        boot_lines=("RDY",),
        transient_errors=(*GENERIC_TRANSIENT_ERRORS,
                          TransientError("CMS", 500, "Quectel EC2x SMS application note: +CMS ERROR: 500 may come "
                                                     "when SMS commands follow each other closely; retry")),
        # An EC2x ships with "ME","ME","ME" (255 records) and keeps AT+CPMS in non-volatile memory (a factory-fresh
        # EC200A answers `+CPMS: "ME",14,180,...` in forums.quectel.com/t/ec200a-eu-sms-regression-fw-a12-a24/38460).
        # SM all the same: a message then stays with the SIM it was sent to when the bank switches slots, where
        # ME would keep every SIM's messages in the module. The sweep drains ME (left from before) anyway.
        receive_storage="SM",
        # status reports (AT+CNMI <ds>=2) wait in "SR", which AT+CPMS=? does not offer but AT+CPMS="SR" selects
        unlisted_storages=("SR",),
    )
