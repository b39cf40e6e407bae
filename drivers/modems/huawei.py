"""Huawei modems (E173 and relatives): `^` reports silenced and ignored, AT^ICCID?, no AT+CVHU, packed USSD."""

from __future__ import annotations

from typing import ClassVar

from simhost_drivers.at.codes import COMMAND_NOT_SUPPORT
from simhost_drivers.modems.generic import GenericDriver
from simhost_drivers.modems.types import IccidQuery, Quirks

HUAWEI_NOISE = (
    "^RSSI:", "^HCSQ:", "^MODE:", "^BOOT:", "^DSFLOWRPT:", "^SRVST:", "^SYSINFO", "^CEND:",
    "^ORIG:", "^CONF:", "^CONN:", "^RFSWITCH:", "^STIN:", "^NWTIME:", "^ACTIVEBAND:",
    "^EONS:", "^NDISSTAT:", "^CSNR:", "^CRSRDY",
)


class HuaweiDriver(GenericDriver):
    """Huawei E1xx/E3xx USB modems."""

    name: ClassVar[str] = "huawei"
    DEFAULT_QUIRKS: ClassVar[Quirks] = Quirks(
        manufacturers=("HUAWEI",),
        hangup_command="AT+CHUP",
        iccid_queries=(IccidQuery("AT^ICCID?", "^ICCID:"),),
        noise_prefixes=HUAWEI_NOISE,
        extra_finals=(COMMAND_NOT_SUPPORT,),
        cvhu=False,
        # AT^PORTSEL=1: +CMTI/+CMT come to this port, not only to the PC UI port.
        init_extras=("AT^CURC=0", "AT^PORTSEL=1"),
        sim_prefixes=("+CPIN:", "^SIMST:"),
        boot_lines=(),
        # Huawei modules keep <mem1..3> across power loss ("It is saved upon power failure", HUAWEI MG323 AT Command
        # Interface Specification, AT+CPMS), so what a dongle's Windows dashboard chose (often ME) stays. SM: a
        # message stays with its SIM; status reports wait in "SR", which the sweep drains too.
        receive_storage="SM",
        # USSD strings as packed 7-bit hex both ways (hsmr.cc/Projekte/HuaweiE173; a plain request yields "wrong
        # service number": github.com/wdoekes/asterisk-chan-dongle/issues/38)
        ussd_packed=True,
        # AT^RESET restarts the whole module (an electric reset: "the Huawei AT Command Interface Specification",
        # used by github.com/iotconnectivity/python-gsmmodem-manager/pull/2 for Huawei modules); E1xx dongles
        # without it answer COMMAND NOT SUPPORT, and the 27.007 restart follows.
        recovery_reset_commands=("AT^RESET", "AT+CFUN=1,1"),
    )
