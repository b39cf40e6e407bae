"""Final result codes and the +CME/+CMS ERROR tables (TS 27.007 §9.2, TS 27.005 §3.2.5)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from simhost_drivers.at import errors as e


@dataclass(frozen=True)
class FinalCode:
    """A final result code matched on a whole line; a failure raises `error`."""

    text: str
    success: bool
    error: type[e.CommandError] = e.CommandError


STANDARD_FINALS: tuple[FinalCode, ...] = (
    FinalCode("OK", True),
    FinalCode("ERROR", False),
    FinalCode("NO CARRIER", False, e.CallFailedError),
    FinalCode("BUSY", False, e.CallFailedError),
    FinalCode("NO ANSWER", False, e.CallFailedError),
    FinalCode("NO DIALTONE", False, e.CallFailedError),
)

# Call-progress results (V.250 §5.7.1) end only the commands that set up a connection (ATD, ATA, ATO). After any
# other command they are the modem reporting that a call ended, unsolicited, whatever command they cross.
CALL_PROGRESS_FINALS: frozenset[str] = frozenset({"NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"})
CONNECTION_COMMANDS: tuple[str, ...] = ("ATD", "ATA", "ATO")

# Vendor finals a driver may declare.
COMMAND_NOT_SUPPORT = FinalCode("COMMAND NOT SUPPORT", False, e.NotSupportedError)

_CODED_FINAL = re.compile(r"^\+(CME|CMS) ERROR: ?(.*\S)$")

# Code -> (exception class, meaning). Codes not listed raise the plain CommandError.
CME_CODES: Mapping[int, tuple[type[e.CommandError], str]] = MappingProxyType({
    0: (e.PhoneFailureError, "phone failure"),
    1: (e.PhoneFailureError, "no connection to phone"),
    3: (e.NotAllowedError, "operation not allowed"),
    4: (e.NotSupportedError, "operation not supported"),
    5: (e.SimLockedError, "PH-SIM PIN required"),
    6: (e.SimLockedError, "PH-FSIM PIN required"),
    7: (e.SimLockedError, "PH-FSIM PUK required"),
    10: (e.SimNotInsertedError, "SIM not inserted"),
    11: (e.SimPinRequiredError, "SIM PIN required"),
    12: (e.SimPukRequiredError, "SIM PUK required"),
    13: (e.SimFailureError, "SIM failure"),
    14: (e.SimBusyError, "SIM busy"),
    15: (e.SimWrongError, "SIM wrong"),
    16: (e.IncorrectPasswordError, "incorrect password"),
    17: (e.SimLockedError, "SIM PIN2 required"),
    18: (e.SimLockedError, "SIM PUK2 required"),
    20: (e.MemoryFullError, "memory full"),
    21: (e.InvalidMemoryIndexError, "invalid index"),
    22: (e.NotFoundError, "not found"),
    23: (e.MemoryFailureError, "memory failure"),
    24: (e.InvalidParameterError, "text string too long"),
    25: (e.InvalidParameterError, "invalid characters in text string"),
    26: (e.InvalidParameterError, "dial string too long"),
    27: (e.InvalidParameterError, "invalid characters in dial string"),
    30: (e.NoNetworkServiceError, "no network service"),
    31: (e.NetworkTimeoutError, "network timeout"),
    32: (e.EmergencyOnlyError, "network not allowed - emergency calls only"),
    40: (e.SimLockedError, "network personalization PIN required"),
    41: (e.SimLockedError, "network personalization PUK required"),
    50: (e.InvalidParameterError, "incorrect parameters"),
    100: (e.CommandError, "unknown"),
})

CMS_CODES: Mapping[int, tuple[type[e.CommandError], str]] = MappingProxyType({
    300: (e.PhoneFailureError, "ME failure"),
    301: (e.NotAllowedError, "SMS service of ME reserved"),
    302: (e.NotAllowedError, "operation not allowed"),
    303: (e.NotSupportedError, "operation not supported"),
    304: (e.InvalidParameterError, "invalid PDU mode parameter"),
    305: (e.InvalidParameterError, "invalid text mode parameter"),
    310: (e.SimNotInsertedError, "SIM not inserted"),
    311: (e.SimPinRequiredError, "SIM PIN required"),
    312: (e.SimLockedError, "PH-SIM PIN required"),
    313: (e.SimFailureError, "SIM failure"),
    314: (e.SimBusyError, "SIM busy"),
    315: (e.SimWrongError, "SIM wrong"),
    316: (e.SimPukRequiredError, "SIM PUK required"),
    317: (e.SimLockedError, "SIM PIN2 required"),
    318: (e.SimLockedError, "SIM PUK2 required"),
    320: (e.MemoryFailureError, "memory failure"),
    321: (e.InvalidMemoryIndexError, "invalid memory index"),
    322: (e.MemoryFullError, "memory full"),
    330: (e.SmscAddressUnknownError, "SMSC address unknown"),
    331: (e.NoNetworkServiceError, "no network service"),
    332: (e.NetworkTimeoutError, "network timeout"),
    340: (e.NoAckExpectedError, "no +CNMA acknowledgement expected"),
    500: (e.CommandError, "unknown error"),
})

SMS_NETWORK_CAUSES_MAX = 255


def _by_text(table: Mapping[int, tuple[type[e.CommandError], str]]) -> Mapping[str, int]:
    return MappingProxyType({meaning.lower(): code for code, (_, meaning) in table.items()})


# With AT+CMEE=2 some modems answer the meaning instead of the number.
_CME_BY_TEXT = _by_text(CME_CODES)
_CMS_BY_TEXT = _by_text(CMS_CODES)


def error_for_final(
    command: str, final: str, table_entry: FinalCode | None = None
) -> e.CommandError:
    """The exception for a failure final line of `command` (never raises, always returns one).

    `table_entry` is the matched plain final code; +CME/+CMS lines are looked up in the code tables.
    """
    match = _CODED_FINAL.match(final)
    if match is None:
        cls = table_entry.error if table_entry is not None else e.CommandError
        return cls(command, final)
    source, value = match.group(1), match.group(2).strip()
    table = CME_CODES if source == "CME" else CMS_CODES
    if value.isdigit():
        code: int | None = int(value)
    else:
        code = (_CME_BY_TEXT if source == "CME" else _CMS_BY_TEXT).get(value.lower())
    if code is None:
        return e.CommandError(command, final, source=source, description=value)
    if code in table:
        cls, meaning = table[code]
        return cls(command, final, code=code, source=source, description=meaning)
    if source == "CMS" and code <= SMS_NETWORK_CAUSES_MAX:
        return e.SmsRejectedError(command, final, code=code, source=source,
                                  description="network cause")
    return e.CommandError(command, final, code=code, source=source)


def is_coded_error(line: str) -> bool:
    """True when `line` is a whole +CME ERROR or +CMS ERROR final line."""
    return _CODED_FINAL.match(line) is not None
