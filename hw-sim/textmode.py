"""Text mode (AT+CMGF=1): views of stored SMS-DELIVER PDUs and +CDS lines of status reports, per TS 27.005."""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.pduinfo import bcd_digits, decode_address, gsm7_text, inspect_status_report, unpack_septets

UDHI = 0x40
MTI_MASK = 0x03
MTI_DELIVER = 0x00


class TextModeError(ValueError):
    """A stored PDU that has no text-mode view (not an SMS-DELIVER, or cut short)."""


@dataclass(frozen=True)
class TextView:
    """The text-mode fields of one SMS-DELIVER."""

    originator: str
    toa: int
    scts: str  # "yy/MM/dd,hh:mm:ss+zz" (zone in quarter-hours)
    data: str
    first_octet: int
    pid: int
    dcs: int
    smsc: str
    smsc_toa: int
    length: int


def time_string(raw: bytes) -> str:
    """A TS 23.040 time stamp as text mode writes it: "yy/MM/dd,hh:mm:ss+zz"."""
    swapped = [((b & 0x0F) * 10) + (b >> 4) for b in raw[:6]]
    tz = raw[6]
    quarters = (tz & 0x07) * 10 + (tz >> 4)
    sign = "-" if tz & 0x08 else "+"
    yy, mo, dd, hh, mi, ss = swapped
    return f"{yy:02d}/{mo:02d}/{dd:02d},{hh:02d}:{mi:02d}:{ss:02d}{sign}{quarters:02d}"


def view(pdu_hex: str, charset: str) -> TextView:
    """Decode an SMS-DELIVER for text mode; `charset` is the AT+CSCS setting ("UCS2" gives hex)."""
    try:
        raw = bytes.fromhex(pdu_hex)
        smsc_len = raw[0]
        smsc_raw = raw[1:1 + smsc_len]
        smsc_toa = smsc_raw[0] if smsc_raw else 129
        smsc = bcd_digits(smsc_raw[1:])
        if smsc and smsc_toa & 0x70 == 0x10:
            smsc = "+" + smsc
        tp = raw[1 + smsc_len:]
        first = tp[0]
        if first & MTI_MASK != MTI_DELIVER:
            raise TextModeError("not an SMS-DELIVER")
        oa_digits, toa = tp[1], tp[2]
        pos = 3 + (oa_digits + 1) // 2
        originator = decode_address(tp[3:pos], oa_digits, toa)
        pid, dcs = tp[pos], tp[pos + 1]
        scts = time_string(tp[pos + 2:pos + 9])
        udl = tp[pos + 9]
        ud = tp[pos + 10:]
    except (IndexError, ValueError) as exc:
        raise TextModeError(f"cannot decode the stored PDU: {exc}") from None
    group = dcs >> 4
    if group <= 0x7:
        alphabet = (dcs >> 2) & 0x03
    elif group in (0xC, 0xD):
        alphabet = 0
    elif group == 0xE:
        alphabet = 2
    elif group == 0xF:
        alphabet = 1 if dcs & 0x04 else 0
    else:
        alphabet = 1
    if first & UDHI or alphabet != 0:
        # a header, 8-bit or UCS2 data: TS 27.005 §3.1 gives the user data as hex
        data = ud.hex().upper()
        length = len(ud)
    else:
        text = gsm7_text(unpack_septets(ud, udl))
        data = text.encode("utf-16-be").hex().upper() if charset == "UCS2" else text
        length = len(text)  # text mode counts characters
    return TextView(originator, toa, scts, data, first, pid, dcs, smsc, smsc_toa, length)


def cds_line(pdu_hex: str) -> str:
    """The text-mode +CDS line of an SMS-STATUS-REPORT: <fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st> (TS 27.005 §3.4.1)."""
    r = inspect_status_report(pdu_hex)
    return (f'+CDS: {r.first_octet},{r.message_reference},"{r.recipient}",{r.recipient_type},'
            f'"{time_string(r.scts)}","{time_string(r.discharge)}",{r.status}')
