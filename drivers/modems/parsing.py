"""Parsers for 27.005/27.007 answers: fields, +CSQ, +CREG, +CPMS, +CMGL/+CMGR, +CLIP, +CLCC, ICCID."""

from __future__ import annotations

import re

from simhost_drivers.at.errors import ResponseError
from simhost_drivers.modems.types import CallEntry, RegistrationState, StoredPdu

CSQ_UNKNOWN = 99
CSQ_MAX = 31
DBM_AT_CSQ_ZERO = -113

REGISTRATION_BY_STAT = {
    0: RegistrationState.NOT_REGISTERED,
    1: RegistrationState.HOME,
    2: RegistrationState.SEARCHING,
    3: RegistrationState.DENIED,
    4: RegistrationState.UNKNOWN,
    5: RegistrationState.ROAMING,
    6: RegistrationState.HOME,  # registered for SMS only, home
    7: RegistrationState.ROAMING,  # registered for SMS only, roaming
}

# Text forms of <stat> that some modems print even in PDU mode.
STAT_BY_TEXT = {"REC UNREAD": 0, "REC READ": 1, "STO UNSENT": 2, "STO SENT": 3, "ALL": 4}

_ICCID = re.compile(r"^89\d{16,20}$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_GROUP = re.compile(r"\(([^)]*)\)")


def split_fields(value: str) -> list[str]:
    """Split an AT parameter list on commas outside quotes; quotes are removed."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return fields


def to_int(text: str, what: str) -> int:
    """`text` as an int, or ResponseError naming `what`."""
    try:
        return int(text.strip())
    except ValueError:
        raise ResponseError(f"{what}: not a number: {text!r}") from None


def optional_int(text: str) -> int | None:
    """`text` as an int, None when empty or not a number."""
    try:
        return int(text.strip())
    except ValueError:
        return None


def csq_dbm(value: str) -> int | None:
    """dBm from a +CSQ value (`rssi,ber`); None for 99 (unknown)."""
    rssi = to_int(split_fields(value)[0], "+CSQ rssi")
    if rssi == CSQ_UNKNOWN:
        return None
    if not 0 <= rssi <= CSQ_MAX:
        raise ResponseError(f"+CSQ rssi out of range: {rssi}")
    return DBM_AT_CSQ_ZERO + 2 * rssi


def registration_state(stat: int) -> RegistrationState:
    """The state a +CREG/+CGREG/+CEREG <stat> stands for (6 and 7, registered for SMS only, count as registered)."""
    return REGISTRATION_BY_STAT.get(stat, RegistrationState.UNKNOWN)


def creg_state(value: str, what: str = "+CREG") -> RegistrationState:
    """The state from a +CREG?/+CEREG? answer (`n,stat[,lac,ci[,act]]`)."""
    fields = split_fields(value)
    if len(fields) < 2:
        raise ResponseError(f"{what}: expected n,stat: {value!r}")
    return registration_state(to_int(fields[1], f"{what} stat"))


def registration_urc(value: str) -> RegistrationState | None:
    """The state of a registration URC (`<stat>[,"<lac>","<ci>"[,<act>]]`); None for the `n,stat` answer form."""
    fields = [f.strip() for f in value.split(",")]
    if fields[0].isdigit() and (len(fields) == 1 or fields[1].startswith('"')):
        return registration_state(int(fields[0]))
    return None


def cpms_options(value: str) -> list[list[str]]:
    """The memory lists of an AT+CPMS=? answer: `("SM","ME"),("SM","ME"),("SM")`."""
    groups = [split_fields(g) for g in _GROUP.findall(value)]
    return [[m for m in group if m] for group in groups]


def cpms_usage(value: str) -> tuple[int, int]:
    """(used, total) of the first memory: AT+CPMS set (`u,t,...`) or query (`"SM",u,t,...`)."""
    fields = split_fields(value)
    numbers = fields[1:3] if fields and not fields[0].isdigit() else fields[0:2]
    if len(numbers) < 2:
        raise ResponseError(f"+CPMS: expected used,total: {value!r}")
    return to_int(numbers[0], "+CPMS used"), to_int(numbers[1], "+CPMS total")


def cpms_query_usage(value: str) -> dict[str, tuple[int, int]]:
    """{memory: (used, total)} of an AT+CPMS? answer (`"SM",u,t,"ME",u,t,...`); {} for the set form."""
    fields = split_fields(value)
    found: dict[str, tuple[int, int]] = {}
    for i in range(0, len(fields) - 2, 3):
        name = fields[i]
        if not name or name.isdigit():
            break
        found.setdefault(name, (to_int(fields[i + 1], "+CPMS used"), to_int(fields[i + 2], "+CPMS total")))
    return found


def cpms_memory(value: str) -> str | None:
    """The first memory name of an AT+CPMS? answer, None when the answer has none."""
    first = split_fields(value)[0]
    return None if first.isdigit() else first


def stat_value(text: str) -> int:
    """A <stat> field as its number (numeric or `REC UNREAD` style)."""
    text = text.strip()
    if text.upper() in STAT_BY_TEXT:
        return STAT_BY_TEXT[text.upper()]
    return to_int(text, "<stat>")


def check_pdu(pdu: str, where: str) -> str:
    """`pdu` upper-cased, or ResponseError when it is not hex octets."""
    if not _HEX.match(pdu) or len(pdu) % 2:
        raise ResponseError(f"{where}: not a PDU: {pdu!r}")
    return pdu.upper()


def cmgl_entry(value: str, pdu: str | None) -> StoredPdu:
    """One +CMGL entry (`index,stat,[alpha],length`) with its PDU line."""
    fields = split_fields(value)
    if len(fields) < 2:
        raise ResponseError(f"+CMGL: expected index,stat: {value!r}")
    if pdu is None:
        raise ResponseError(f"+CMGL: {value}: no PDU line followed")
    return StoredPdu(to_int(fields[0], "+CMGL index"), stat_value(fields[1]),
                     check_pdu(pdu, f"+CMGL: {value}"))


def cmgr_entry(index: int, value: str, pdu: str | None) -> StoredPdu | None:
    """The +CMGR answer (`stat,[alpha],length`) with its PDU line; None for an empty slot."""
    fields = split_fields(value)
    length = optional_int(fields[-1]) if len(fields) >= 2 else None
    if pdu is None:
        if length == 0:
            return None
        raise ResponseError(f"+CMGR: {value}: no PDU line followed")
    return StoredPdu(index, stat_value(fields[0]), check_pdu(pdu, f"+CMGR: {value}"))


def memory_index(value: str, what: str) -> tuple[str, int]:
    """(memory, index) from `"SM",3` (+CMTI, +CDSI); extra fields are ignored."""
    fields = split_fields(value)
    if len(fields) < 2:
        raise ResponseError(f"{what}: expected mem,index: {value!r}")
    return fields[0], to_int(fields[1], f"{what} index")


def clip_fields(value: str) -> tuple[str, int | None, int | None]:
    """(number, type, CLI validity) from `"+7916...",145,"",,"",0`; missing fields are None."""
    fields = split_fields(value)
    number = fields[0]
    number_type = optional_int(fields[1]) if len(fields) > 1 else None
    validity = optional_int(fields[5]) if len(fields) > 5 else None
    return number, number_type, validity


def clcc_entry(value: str) -> CallEntry:
    """One call from `1,1,4,0,0,"+7916...",145` (+CLCC, 27.007 §7.18); number and type are optional."""
    fields = split_fields(value)
    if len(fields) < 5:
        raise ResponseError(f"+CLCC: expected id,dir,stat,mode,mpty: {value!r}")
    index, direction, stat, mode, mpty = (to_int(f, "+CLCC field") for f in fields[:5])
    number = fields[5] if len(fields) > 5 else None
    number_type = optional_int(fields[6]) if len(fields) > 6 else None
    return CallEntry(index, direction, stat, mode, mpty == 1, number, number_type)


def iccid_from(text: str) -> str | None:
    """An ICCID from an answer: plain digits or nibble-swapped EF_ICCID, `F` padding dropped."""
    raw = text.strip().strip('"').upper()
    if not raw or not _HEX.match(raw):
        return None
    candidates = [raw]
    if len(raw) % 2 == 0:
        candidates.append("".join(raw[i + 1] + raw[i] for i in range(0, len(raw), 2)))
    for candidate in candidates:
        digits = candidate.rstrip("F")
        if _ICCID.match(digits):
            return digits
    return None


def crsm_iccid(value: str) -> str | None:
    """The ICCID from `+CRSM: 144,0,"98..."` (READ BINARY of EF_ICCID), None on a bad status."""
    fields = split_fields(value)
    if len(fields) < 3 or optional_int(fields[0]) != 0x90:
        return None
    return iccid_from(fields[2])


def digits_line(lines: tuple[str, ...], prefix: str, minimum: int, maximum: int) -> str | None:
    """The first line that is all digits (after an optional prefix) of a plausible length."""
    for line in lines:
        text = line[len(prefix):].strip() if prefix and line.startswith(prefix) else line.strip()
        text = text.strip('"')
        if text.isdigit() and minimum <= len(text) <= maximum:
            return text
    return None


def first_text(lines: tuple[str, ...], prefix: str) -> str | None:
    """The first line's text with an optional echoed prefix (`+CGMI: `) removed.

    Other `+`/`^` lines are skipped: they are unsolicited reports no route claimed.
    """
    for line in lines:
        if line.startswith(prefix):
            text = line[len(prefix):].strip()
        elif line.startswith(("+", "^")):
            continue
        else:
            text = line.strip()
        text = text.strip('"')
        if text:
            return text
    return None
