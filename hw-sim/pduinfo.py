"""Just enough SMS-DELIVER parsing for the modem's routing decisions: message class, WAP push, TPDU length."""

from __future__ import annotations

from dataclasses import dataclass

WAP_PUSH_PORT = 2948  # TS 23.040 application port for WAP push (MMS notifications)
IEI_PORT_8BIT = 0x04
IEI_PORT_16BIT = 0x05
UDHI = 0x40


class PduError(ValueError):
    """Hex that is not a PDU the modem can route."""


@dataclass(frozen=True)
class DeliverInfo:
    """What the modem needs to know of a received PDU."""

    tpdu_octets: int
    message_class: int | None
    wap_push: bool


def _octets(pdu_hex: str) -> bytes:
    text = pdu_hex.strip()
    if len(text) % 2:
        raise PduError(f"odd number of hex digits ({len(text)})")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise PduError("not hexadecimal") from None


def tpdu_octets(pdu_hex: str) -> int:
    """Octets after the SMSC field: the <length> a modem reports and AT+CMGS expects."""
    raw = _octets(pdu_hex)
    if not raw:
        raise PduError("empty PDU")
    smsc_len = raw[0]
    if 1 + smsc_len > len(raw):
        raise PduError("the SMSC field is longer than the PDU")
    return len(raw) - 1 - smsc_len


def inspect_deliver(pdu_hex: str) -> DeliverInfo:
    """Class and WAP-push flag of an SMS-DELIVER; a PDU too short to tell is class-less, not push."""
    raw = _octets(pdu_hex)
    length = tpdu_octets(pdu_hex)
    pos = 1 + raw[0]
    try:
        first = raw[pos]
        oa_digits = raw[pos + 1]
        pos += 3 + (oa_digits + 1) // 2  # first octet, OA length, OA type, OA value
        pos += 1  # PID
        dcs = raw[pos]
        pos += 1 + 7 + 1  # DCS, SCTS, UDL
    except IndexError:
        return DeliverInfo(length, None, False)
    message_class: int | None = None
    group = dcs >> 4
    if group in (0x1, 0x3, 0x5, 0x7) or group == 0xF:
        message_class = dcs & 0x03
    wap = False
    if first & UDHI and pos < len(raw):
        udhl = raw[pos]
        i, end = pos + 1, min(len(raw), pos + 1 + udhl)
        while i + 1 < end:
            iei, ielen = raw[i], raw[i + 1]
            data = raw[i + 2:i + 2 + ielen]
            if iei == IEI_PORT_16BIT and len(data) >= 2 and int.from_bytes(data[:2], "big") == WAP_PUSH_PORT:
                wap = True
            i += 2 + ielen
    return DeliverInfo(length, message_class, wap)
