"""The virtual network's SMS-DELIVER and SMS-STATUS-REPORT encoders, written from 3GPP TS 23.040 and TS 23.038."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

__all__ = [
    "DEFAULT_SCTS",
    "DEFAULT_SMSC",
    "ConcatInfo",
    "encode_deliver",
    "encode_deliver_part",
    "encode_status_report",
    "gsm7_septets",
    "tpdu_length",
]

DEFAULT_SMSC = "+79168999100"
DEFAULT_SCTS = datetime(2024, 3, 15, 10, 30, 0, tzinfo=timezone(timedelta(hours=3)))

# TS 23.038 §6.2.1: the GSM 7-bit default alphabet, indexed by septet value.
GSM7_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
ESC_SEPTET = 0x1B
# TS 23.038 §6.2.1.1: the default alphabet extension table, reached through ESC.
GSM7_EXTENSION = {
    "\x0c": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM7_INDEX = {ch: i for i, ch in enumerate(GSM7_DEFAULT) if i != ESC_SEPTET}

MAX_UD_OCTETS = 140
MAX_SEPTETS = 160  # 140 octets * 8 / 7
MAX_PARTS = 255
MAX_ALNUM_SEPTETS = 11  # the address value holds at most 10 octets = 11 septets
MAX_ADDRESS_DIGITS = 20
MAX_TZ_QUARTERS = 79  # two BCD digits, the tens digit has three bits

TOA_INTERNATIONAL = 0x91
TOA_NATIONAL = 0xA1
TOA_UNKNOWN = 0x81
TOA_ALPHANUMERIC = 0xD0
SHORT_NUMBER_MAX_DIGITS = 6

MTI_DELIVER = 0x00
MTI_STATUS_REPORT = 0x02
ST_DELIVERED = 0x00  # TS 23.040 §9.2.3.15: short message received by the SME
FO_MORE_MESSAGES_TO_SEND_NOT = 0x04  # TP-MMS = 1: no more messages are waiting
FO_UDHI = 0x40
PID_DEFAULT = 0x00
DCS_GSM7 = 0x00
DCS_UCS2 = 0x08
DCS_CLASS_PRESENT = 0x10

IEI_CONCAT_8BIT = 0x00
IEI_CONCAT_16BIT = 0x08

ENCODINGS = ("auto", "gsm7", "ucs2")

_DIGITS = re.compile(r"[0-9]+")


class ConcatInfo(NamedTuple):
    """A concatenation information element: reference, part count, part number, reference bits."""

    ref: int
    total: int
    seq: int
    bits: int = 8


def gsm7_septets(text: str) -> list[int] | None:
    """Septets of text in the default alphabet (extension characters as ESC pairs), or None."""
    out: list[int] = []
    for ch in text:
        code = _GSM7_INDEX.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = GSM7_EXTENSION.get(ch)
        if ext is None:
            return None
        out.extend((ESC_SEPTET, ext))
    return out


def _char_septets(ch: str) -> list[int]:
    code = _GSM7_INDEX.get(ch)
    if code is not None:
        return [code]
    ext = GSM7_EXTENSION.get(ch)
    if ext is None:
        raise ValueError(f"character {ch!r} (U+{ord(ch):04X}) is not in the GSM 7-bit alphabet")
    return [ESC_SEPTET, ext]


def _ucs2_units(ch: str) -> bytes:
    if 0xD800 <= ord(ch) <= 0xDFFF:
        raise ValueError(f"text holds an unpaired UTF-16 surrogate U+{ord(ch):04X}")
    return ch.encode("utf-16-be")


def _swap_digits(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)))


def _pack_septets(septets: list[int], bit_offset: int = 0) -> bytes:
    """Packs septets LSB-first starting at bit_offset (TS 23.038 §6.1.2.1.1)."""
    acc = 0
    for i, s in enumerate(septets):
        acc |= s << (bit_offset + 7 * i)
    nbits = bit_offset + 7 * len(septets)
    return acc.to_bytes((nbits + 7) // 8, "little")


def encode_originator(sender: str) -> bytes:
    """TP-OA: length (digits or semi-octets), type of address, value."""
    if not sender:
        raise ValueError("sender must not be empty")
    if sender.startswith("+") and _DIGITS.fullmatch(sender[1:]):
        digits, toa = sender[1:], TOA_INTERNATIONAL
    elif _DIGITS.fullmatch(sender):
        digits = sender
        toa = TOA_NATIONAL if len(digits) > SHORT_NUMBER_MAX_DIGITS else TOA_UNKNOWN
    else:
        septets = gsm7_septets(sender)
        if septets is None:
            bad = next(ch for ch in sender if gsm7_septets(ch) is None)
            raise ValueError(f"alphanumeric sender {sender!r} holds {bad!r}, "
                             "which is not in the GSM 7-bit alphabet")
        if len(septets) > MAX_ALNUM_SEPTETS:
            raise ValueError(
                f"alphanumeric sender {sender!r} is {len(septets)} septets long; "
                f"the address field holds at most {MAX_ALNUM_SEPTETS}")
        semi_octets = (7 * len(septets) + 3) // 4
        return bytes((semi_octets, TOA_ALPHANUMERIC)) + _pack_septets(septets)
    if len(digits) > MAX_ADDRESS_DIGITS:
        raise ValueError(
            f"sender {sender!r} has {len(digits)} digits; at most {MAX_ADDRESS_DIGITS} fit")
    return bytes((len(digits), toa)) + _swap_digits(digits)


def encode_smsc(smsc: str | None) -> bytes:
    """The SMSC field that precedes the TPDU in +CMGR/+CMGL/+CMT: octet length, TOA, digits."""
    if smsc is None or smsc == "":
        return b"\x00"
    if smsc.startswith("+") and _DIGITS.fullmatch(smsc[1:]):
        digits, toa = smsc[1:], TOA_INTERNATIONAL
    elif _DIGITS.fullmatch(smsc):
        digits, toa = smsc, TOA_UNKNOWN
    else:
        raise ValueError(f"SMSC address {smsc!r} must be digits with an optional leading '+'")
    if len(digits) > MAX_ADDRESS_DIGITS:
        raise ValueError(f"SMSC address {smsc!r} has more than {MAX_ADDRESS_DIGITS} digits")
    value = _swap_digits(digits)
    return bytes((len(value) + 1, toa)) + value


def encode_scts(when: datetime) -> bytes:
    """TP-SCTS: swapped BCD YYMMDDhhmmss, then the zone in quarter-hours with its sign in bit 3."""
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("scts must be a timezone-aware datetime (the zone is part of TP-SCTS)")
    seconds = int(offset.total_seconds())
    if seconds % (15 * 60):
        raise ValueError(f"scts zone offset {offset} is not a whole number of quarter-hours")
    quarters = abs(seconds) // (15 * 60)
    if quarters > MAX_TZ_QUARTERS:
        raise ValueError(f"scts zone offset {offset} exceeds {MAX_TZ_QUARTERS} quarter-hours")
    fields = (when.year % 100, when.month, when.day, when.hour, when.minute, when.second)
    out = bytearray(((v % 10) << 4) | (v // 10) for v in fields)
    tz = ((quarters % 10) << 4) | (quarters // 10)
    if seconds < 0:
        tz |= 0x08
    out.append(tz)
    return bytes(out)


def _dcs(ucs2: bool, message_class: int | None) -> int:
    dcs = DCS_UCS2 if ucs2 else DCS_GSM7
    if message_class is not None:
        if message_class not in (0, 1, 2, 3):
            raise ValueError(f"message_class must be 0, 1, 2 or 3, not {message_class!r}")
        dcs |= DCS_CLASS_PRESENT | message_class
    return dcs


def _concat_udh(concat: ConcatInfo) -> bytes:
    if concat.bits == 8:
        if not 0 <= concat.ref <= 0xFF:
            raise ValueError(f"8-bit concatenation reference {concat.ref} is outside 0..255")
        ie = bytes((IEI_CONCAT_8BIT, 3, concat.ref, concat.total, concat.seq))
    elif concat.bits == 16:
        if not 0 <= concat.ref <= 0xFFFF:
            raise ValueError(f"16-bit concatenation reference {concat.ref} is outside 0..65535")
        ie = bytes((IEI_CONCAT_16BIT, 4, concat.ref >> 8, concat.ref & 0xFF,
                    concat.total, concat.seq))
    else:
        raise ValueError(f"concatenation reference width must be 8 or 16 bits, not {concat.bits!r}")
    if not 1 <= concat.total <= MAX_PARTS:
        raise ValueError(f"part count {concat.total} is outside 1..{MAX_PARTS}")
    if not 1 <= concat.seq <= concat.total:
        raise ValueError(f"part number {concat.seq} is outside 1..{concat.total}")
    return bytes((len(ie),)) + ie


def _resolve_encoding(text: str, encoding: str) -> bool:
    """True for UCS2, False for GSM 7-bit."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
    if encoding == "ucs2":
        return True
    fits = gsm7_septets(text) is not None
    if encoding == "gsm7" and not fits:
        bad = next(ch for ch in text if gsm7_septets(ch) is None)
        raise ValueError(f"character {bad!r} (U+{ord(bad):04X}) is not in the GSM 7-bit alphabet")
    return not fits


def _user_data(text: str, ucs2: bool, udh: bytes) -> tuple[int, bytes]:
    """TP-UDL and TP-UD for one part."""
    if ucs2:
        body = b"".join(_ucs2_units(ch) for ch in text)
        ud = udh + body
        if len(ud) > MAX_UD_OCTETS:
            raise ValueError(f"user data of {len(ud)} octets exceeds {MAX_UD_OCTETS}")
        return len(ud), ud
    septets = [s for ch in text for s in _char_septets(ch)]
    header_septets = (len(udh) * 8 + 6) // 7
    udl = header_septets + len(septets)
    if udl > MAX_SEPTETS:
        raise ValueError(f"user data of {udl} septets exceeds {MAX_SEPTETS}")
    packed = _pack_septets(septets, header_septets * 7)
    ud = udh + packed[len(udh):]
    return udl, ud


def encode_deliver_part(sender: str, text: str, *, ucs2: bool, concat: ConcatInfo | None = None,
                        message_class: int | None = None, scts: datetime | None = None,
                        smsc: str | None = DEFAULT_SMSC) -> str:
    """One SMS-DELIVER PDU (SMSC field included) as upper-case hex; text must fit one part."""
    udh = _concat_udh(concat) if concat is not None else b""
    first = MTI_DELIVER | FO_MORE_MESSAGES_TO_SEND_NOT | (FO_UDHI if udh else 0)
    udl, ud = _user_data(text, ucs2, udh)
    tpdu = (bytes((first,)) + encode_originator(sender)
            + bytes((PID_DEFAULT, _dcs(ucs2, message_class)))
            + encode_scts(DEFAULT_SCTS if scts is None else scts)
            + bytes((udl,)) + ud)
    return (encode_smsc(smsc) + tpdu).hex().upper()


def split_text(text: str, ucs2: bool, concat_bits: int) -> list[str]:
    """Splits text into the parts of one message; a single part when it fits without a UDH."""
    if ucs2:
        cost = [len(_ucs2_units(ch)) for ch in text]
        single = MAX_UD_OCTETS
        per_part = MAX_UD_OCTETS - (6 if concat_bits == 8 else 7)
        per_part -= per_part % 2
    else:
        cost = [len(_char_septets(ch)) for ch in text]
        single = MAX_SEPTETS
        per_part = MAX_SEPTETS - (7 if concat_bits == 8 else 8)
    if sum(cost) <= single:
        return [text]
    parts: list[str] = []
    start, used = 0, 0
    for i, c in enumerate(cost):
        if used + c > per_part:
            parts.append(text[start:i])
            start, used = i, 0
        used += c
    parts.append(text[start:])
    return parts


def encode_deliver(sender: str, text: str, *, encoding: str = "auto", concat_bits: int = 8,
                   message_class: int | None = None, scts: datetime | None = None,
                   smsc: str | None = DEFAULT_SMSC, reference: int = 0) -> list[str]:
    """SMS-DELIVER PDUs (SMSC field included, upper-case hex) carrying text, in part order."""
    if concat_bits not in (8, 16):
        raise ValueError(f"concat_bits must be 8 or 16, not {concat_bits!r}")
    ucs2 = _resolve_encoding(text, encoding)
    # validate the per-message fields once so a bad value fails before any splitting work
    encode_originator(sender)
    _dcs(ucs2, message_class)
    parts = split_text(text, ucs2, concat_bits)
    if len(parts) == 1:
        return [encode_deliver_part(sender, text, ucs2=ucs2, message_class=message_class,
                                    scts=scts, smsc=smsc)]
    if len(parts) > MAX_PARTS:
        raise ValueError(
            f"text needs {len(parts)} parts; a concatenated SMS has at most {MAX_PARTS}")
    return [encode_deliver_part(sender, part, ucs2=ucs2,
                                concat=ConcatInfo(reference, len(parts), seq, concat_bits),
                                message_class=message_class, scts=scts, smsc=smsc)
            for seq, part in enumerate(parts, start=1)]


def tpdu_length(pdu_hex: str) -> int:
    """Octets after the SMSC field: the <length> that +CMGL/+CMGR/+CMT report for this PDU."""
    try:
        raw = bytes.fromhex(pdu_hex)
    except ValueError:
        raise ValueError(f"PDU is not hexadecimal: {pdu_hex[:40]!r}") from None
    if not raw:
        raise ValueError("PDU is empty")
    length = len(raw) - 1 - raw[0]
    if length <= 0:
        raise ValueError(f"SMSC length {raw[0]} leaves no TPDU in a PDU of {len(raw)} octets")
    return length


def encode_status_report(recipient: str, reference: int, *, status: int = ST_DELIVERED,
                         scts: datetime | None = None, discharged: datetime | None = None,
                         smsc: str | None = DEFAULT_SMSC, recipient_type: int | None = None) -> str:
    """One SMS-STATUS-REPORT PDU (SMSC field included) about message `reference` sent to `recipient`.

    TS 23.040 §9.2.2.3: first octet (TP-MTI 10, TP-MMS), TP-MR, TP-RA, TP-SCTS, TP-DT, TP-ST. A number's type
    of address is `recipient_type` when given (the SMS-SUBMIT's TP-DA type, copied), else guessed from its form.
    """
    if not 0 <= reference <= 255:
        raise ValueError(f"a message reference is 0-255, not {reference}")
    if not 0 <= status <= 255:
        raise ValueError(f"a TP-Status is one octet, not {status}")
    sent = DEFAULT_SCTS if scts is None else scts
    done = sent + timedelta(seconds=5) if discharged is None else discharged
    address = encode_originator(recipient)
    if recipient_type is not None and address[1] != TOA_ALPHANUMERIC:
        address = bytes((address[0], recipient_type)) + address[2:]
    tpdu = (bytes((MTI_STATUS_REPORT | FO_MORE_MESSAGES_TO_SEND_NOT, reference)) + address
            + encode_scts(sent) + encode_scts(done) + bytes((status,)))
    return (encode_smsc(smsc) + tpdu).hex().upper()
