"""hwsim's own PDU reading: SMS-DELIVER routing facts, SMS-SUBMIT contents, SMS-STATUS-REPORT fields."""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.sms import ESC_SEPTET, GSM7_DEFAULT, GSM7_EXTENSION

WAP_PUSH_PORT = 2948  # TS 23.040 application port for WAP push (MMS notifications)
IEI_PORT_8BIT = 0x04
IEI_PORT_16BIT = 0x05
UDHI = 0x40
MTI_MASK = 0x03
MTI_DELIVER = 0x00
MTI_SUBMIT = 0x01
MTI_STATUS_REPORT = 0x02
SRR = 0x20  # SMS-SUBMIT TP-Status-Report-Request
VPF_MASK = 0x18
VPF_RELATIVE = 0x10
IEI_CONCAT_8BIT = 0x00
IEI_CONCAT_16BIT = 0x08
_EXTENSION_CHARS = {v: k for k, v in GSM7_EXTENSION.items()}


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


# ---- fields shared by every TPDU kind (TS 23.040 §9.1.2, TS 23.038 §6.1.2) --------------------------------------

def bcd_digits(octets: bytes) -> str:
    """Swapped semi-octets as digits, the filler F dropped."""
    digits = []
    for b in octets:
        digits.append(b & 0x0F)
        digits.append(b >> 4)
    return "".join(str(d) for d in digits if d <= 9)


def unpack_septets(raw: bytes, count: int, skip_bits: int = 0) -> list[int]:
    bits = int.from_bytes(raw[::-1], "big") if raw else 0
    return [(bits >> (skip_bits + 7 * i)) & 0x7F for i in range(count)]


def gsm7_text(septets: list[int]) -> str:
    out, escape = [], False
    for s in septets:
        if escape:
            out.append(_EXTENSION_CHARS.get(s, " "))
            escape = False
        elif s == ESC_SEPTET:
            escape = True
        else:
            out.append(GSM7_DEFAULT[s])
    return "".join(out)


def decode_address(raw: bytes, digits: int, toa: int) -> str:
    """An address value: "+digits" (international), digits, or an alphanumeric name."""
    value = raw[:(digits + 1) // 2]
    if (toa & 0x70) == 0x50:  # alphanumeric: packed septets
        return gsm7_text(unpack_septets(value, digits * 4 // 7))
    number = bcd_digits(value)[:digits]
    return ("+" + number) if (toa & 0x70) == 0x10 else number


def message_type(pdu_hex: str) -> int:
    """TP-MTI of a PDU (SMSC field included): 0 DELIVER, 1 SUBMIT, 2 STATUS-REPORT."""
    raw = _octets(pdu_hex)
    pos = 1 + raw[0] if raw else 0
    if pos >= len(raw):
        raise PduError("no TPDU after the SMSC field")
    return raw[pos] & MTI_MASK


def _alphabet(dcs: int) -> str:
    """TS 23.038 §4: "gsm7", "8bit" or "ucs2"."""
    group = dcs >> 4
    if group <= 0x7:
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group in (0xC, 0xD):
        return "gsm7"
    if group == 0xE:
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "8bit"


# ---- SMS-SUBMIT (what the terminal gives AT+CMGS) -----------------------------------------------------------

@dataclass(frozen=True)
class SubmitInfo:
    """What an SMS-SUBMIT asks the network for."""

    recipient: str
    recipient_type: int
    message_reference: int  # TP-MR as written in the PDU (the modem answers its own)
    status_report: bool  # TP-SRR
    encoding: str  # "gsm7", "8bit" or "ucs2"
    udh: str | None  # the user data header as hex, without its length octet
    concat: dict[str, int] | None  # {ref, total, seq} from a concatenation element
    text: str | None  # GSM 7-bit or UCS2 data as text; None for 8-bit data
    data: str  # the user data after any header, as hex

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"recipient": self.recipient, "srr": self.status_report,
                                  "encoding": self.encoding}
        if self.text is not None:
            out["text"] = self.text
        else:
            out["data"] = self.data
        if self.udh is not None:
            out["udh"] = self.udh
        if self.concat is not None:
            out["concat"] = self.concat
        return out


def _concat(udh: bytes) -> dict[str, int] | None:
    i = 0
    while i + 1 < len(udh):
        iei, ielen = udh[i], udh[i + 1]
        data = udh[i + 2:i + 2 + ielen]
        if iei == IEI_CONCAT_8BIT and len(data) == 3:
            return {"ref": data[0], "total": data[1], "seq": data[2]}
        if iei == IEI_CONCAT_16BIT and len(data) == 4:
            return {"ref": (data[0] << 8) | data[1], "total": data[2], "seq": data[3]}
        i += 2 + ielen
    return None


def inspect_submit(pdu_hex: str) -> SubmitInfo:
    """Read an SMS-SUBMIT (SMSC field included), TS 23.040 §9.2.2.2; PduError if it is not a whole one."""
    raw = _octets(pdu_hex)
    tpdu_octets(pdu_hex)
    tp = raw[1 + raw[0]:]
    try:
        first = tp[0]
        if first & MTI_MASK != MTI_SUBMIT:
            raise PduError(f"TP-MTI {first & MTI_MASK} is not an SMS-SUBMIT")
        mr, da_digits, toa = tp[1], tp[2], tp[3]
        pos = 4 + (da_digits + 1) // 2
        if pos > len(tp):
            raise IndexError
        recipient = decode_address(tp[4:pos], da_digits, toa)
        dcs = tp[pos + 1]
        pos += 2  # PID, DCS
        vpf = first & VPF_MASK
        pos += 0 if vpf == 0 else 1 if vpf == VPF_RELATIVE else 7
        udl = tp[pos]
        ud = tp[pos + 1:]
    except IndexError:
        raise PduError("the SMS-SUBMIT ends before its user data length") from None
    alphabet = _alphabet(dcs)
    header = b""
    if first & UDHI:
        if not ud or 1 + ud[0] > len(ud):
            raise PduError("the user data header is longer than the user data")
        header = ud[:1 + ud[0]]
    if alphabet == "gsm7":
        header_septets = (len(header) * 8 + 6) // 7
        if (udl * 7 + 7) // 8 > len(ud):
            raise PduError(f"TP-UDL {udl} septets is more than the {len(ud)} octets present")
        text: str | None = gsm7_text(unpack_septets(ud, udl)[header_septets:])
        data = ud[len(header):].hex().upper()
    else:
        if udl > len(ud):
            raise PduError(f"TP-UDL {udl} octets is more than the {len(ud)} present")
        body = ud[len(header):udl]
        text = body.decode("utf-16-be", errors="replace") if alphabet == "ucs2" else None
        data = body.hex().upper()
    return SubmitInfo(
        recipient=recipient, recipient_type=toa, message_reference=mr, status_report=bool(first & SRR),
        encoding=alphabet, udh=header[1:].hex().upper() if header else None,
        concat=_concat(header[1:]) if header else None, text=text, data=data)


# ---- SMS-STATUS-REPORT (for the text-mode +CDS line) ----------------------------------------------------------

@dataclass(frozen=True)
class ReportInfo:
    """The fields of an SMS-STATUS-REPORT, TS 23.040 §9.2.2.3."""

    first_octet: int
    message_reference: int
    recipient: str
    recipient_type: int
    scts: bytes
    discharge: bytes
    status: int


def inspect_status_report(pdu_hex: str) -> ReportInfo:
    raw = _octets(pdu_hex)
    tpdu_octets(pdu_hex)
    tp = raw[1 + raw[0]:]
    try:
        first, mr, digits, toa = tp[0], tp[1], tp[2], tp[3]
        if first & MTI_MASK != MTI_STATUS_REPORT:
            raise PduError(f"TP-MTI {first & MTI_MASK} is not an SMS-STATUS-REPORT")
        pos = 4 + (digits + 1) // 2
        recipient = decode_address(tp[4:pos], digits, toa)
        scts, discharge, status = tp[pos:pos + 7], tp[pos + 7:pos + 14], tp[pos + 14]
    except IndexError:
        raise PduError("the SMS-STATUS-REPORT is cut short") from None
    return ReportInfo(first, mr, recipient, toa, bytes(scts), bytes(discharge), status)
