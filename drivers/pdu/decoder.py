"""SMS PDU decoder (TS 23.040 §9.2): SMS-DELIVER, -STATUS-REPORT and -SUBMIT as modems list them."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from simhost_drivers.pdu.errors import PduError
from simhost_drivers.pdu.gsm7 import (
    DEFAULT_TABLES,
    SEPTET_BITS,
    decode_septets,
    tables_for,
    unpack_septets,
)
from simhost_drivers.pdu.model import (
    MWI_TYPES,
    TON_ALPHANUMERIC,
    TON_INTERNATIONAL,
    Address,
    Alphabet,
    Concatenation,
    DataCoding,
    DecodedPdu,
    InformationElement,
    MessageWaiting,
    NationalLanguage,
    PduType,
    PortAddressing,
    SpecialIndication,
    Validity,
)

# TS 23.040 §9.1.2.3: semi-octets 1010..1110 are '*', '#', 'a', 'b', 'c'; 1111 is the filler.
_BCD_DIGITS = "0123456789*#abc"
_BCD_FILLER = 0x0F

MTI_DELIVER = 0
MTI_SUBMIT = 1
MTI_STATUS_REPORT = 2
UDHI_BIT = 0x40
TIMESTAMP_OCTETS = 7

IEI_CONCAT_8 = 0x00
IEI_SPECIAL_INDICATION = 0x01
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08
IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25

PI_PID = 0x01
PI_DCS = 0x02
PI_UDL = 0x04
PI_EXTENSION = 0x80

# TS 23.038 §4 general group bits 3..2; the reserved value 11 reads as GSM 7-bit.
_GENERAL_ALPHABETS: tuple[Alphabet, ...] = ("gsm7", "8bit", "ucs2", "gsm7")

# Years 90..99 are 1990s (no SMS predates them); 00..89 are 20xx.
_CENTURY_PIVOT_YY = 90


class _Reader:
    """Octets of the PDU with a cursor; every read names its field so errors say what and where."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def octet(self, field: str) -> int:
        if self.pos >= len(self.data):
            raise PduError("the PDU ends before this field", field=field, offset=self.pos)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, n: int, field: str) -> bytes:
        if n > self.remaining():
            left = self.remaining()
            raise PduError(f"needs {n} octets, only {left} left", field=field, offset=self.pos)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos:]
        self.pos = len(self.data)
        return chunk


def decode_pdu(
    hex_or_bytes: str | bytes | bytearray | memoryview, *, smsc_included: bool = True
) -> DecodedPdu:
    """Decode one PDU as `+CMGR`/`+CMGL`/`+CMT`/`+CDS` give it (hex text) or as raw octets.

    `smsc_included=False` for PDUs without the leading SMSC address field. Raises PduError, and
    nothing else, for input that is not a well-formed PDU; a TP-UDL promising more user data
    than the PDU holds is not an error: what is there is decoded and `truncated` is set.
    """
    data = _to_bytes(hex_or_bytes)
    if not data:
        raise PduError("empty PDU")
    r = _Reader(data)
    smsc = _read_smsc(r) if smsc_included else None
    first = r.octet("first octet")
    mti = first & 0x03
    if mti == MTI_DELIVER:
        return _deliver(r, smsc, first)
    if mti == MTI_STATUS_REPORT:
        return _status_report(r, smsc, first)
    if mti == MTI_SUBMIT:
        return _submit(r, smsc, first)
    raise PduError(f"TP-MTI 3 is reserved (first octet {first:02X})", field="first octet",
                   offset=r.pos - 1)


def _to_bytes(value: object) -> bytes:
    if isinstance(value, str):
        text = "".join(value.split())
        if len(text) % 2:
            raise PduError(f"hex PDU has an odd number of digits ({len(text)})")
        try:
            return binascii.unhexlify(text)
        except (binascii.Error, ValueError):
            raise PduError("PDU is not hexadecimal text") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise PduError(f"PDU must be hex text or bytes, not {type(value).__name__}")


def _deliver(r: _Reader, smsc: Address | None, first: int) -> DecodedPdu:
    address = _read_address(r, "TP-OA")
    pid = r.octet("TP-PID")
    dcs = _read_dcs(r)
    timestamp = _read_timestamp(r, "TP-SCTS")
    ud = _read_user_data(r, dcs, bool(first & UDHI_BIT))
    return _pdu("SMS-DELIVER", first, smsc, address, ud, pid=pid, dcs=dcs, timestamp=timestamp)


def _submit(r: _Reader, smsc: Address | None, first: int) -> DecodedPdu:
    mr = r.octet("TP-MR")
    address = _read_address(r, "TP-DA")
    pid = r.octet("TP-PID")
    dcs = _read_dcs(r)
    validity = _read_validity(r, (first >> 3) & 0x03)
    ud = _read_user_data(r, dcs, bool(first & UDHI_BIT))
    return _pdu("SMS-SUBMIT", first, smsc, address, ud, pid=pid, dcs=dcs, mr=mr, validity=validity)


def _status_report(r: _Reader, smsc: Address | None, first: int) -> DecodedPdu:
    mr = r.octet("TP-MR")
    address = _read_address(r, "TP-RA")
    timestamp = _read_timestamp(r, "TP-SCTS")
    discharge = _read_timestamp(r, "TP-DT")
    status = r.octet("TP-ST")
    pi: int | None = None
    pid: int | None = None
    dcs: DataCoding | None = None
    ud = _NO_USER_DATA
    if r.remaining():
        pi = r.octet("TP-PI")
        ext = pi
        while ext & PI_EXTENSION and r.remaining():
            # Further TP-PI octets only extend the reserved bits: read past them.
            ext = r.octet("TP-PI")
        if pi & PI_PID:
            pid = r.octet("TP-PID")
        if pi & PI_DCS:
            dcs = _read_dcs(r)
        if pi & PI_UDL:
            ud = _read_user_data(r, dcs or _GSM7_DCS, bool(first & UDHI_BIT))
    return _pdu("SMS-STATUS-REPORT", first, smsc, address, ud, pid=pid, dcs=dcs, timestamp=timestamp,
                mr=mr, status=status, discharge_time=discharge, pi=pi)


def _pdu(
    kind: PduType,
    first: int,
    smsc: Address | None,
    address: Address,
    ud: _UserData,
    *,
    pid: int | None,
    dcs: DataCoding | None,
    timestamp: datetime | None = None,
    mr: int | None = None,
    status: int | None = None,
    discharge_time: datetime | None = None,
    pi: int | None = None,
    validity: Validity | None = None,
) -> DecodedPdu:
    concat: Concatenation | None = None
    ports: PortAddressing | None = None
    special: list[SpecialIndication] = []
    for ie in ud.elements:
        # A repeated IE that may not repeat: the last occurrence wins (TS 23.040 §9.2.3.24).
        concat = _concat(ie) or concat
        ports = _ports(ie) or ports
        si = _special(ie)
        if si is not None:
            special.append(si)
    return DecodedPdu(
        type=kind, first_octet=first, smsc=smsc, address=address, pid=pid, dcs=dcs,
        timestamp=timestamp, text=ud.text, user_data=ud.payload, truncated=ud.truncated,
        udh=ud.elements, concat=concat, ports=ports, special_indications=tuple(special),
        national_language=ud.national, mr=mr, status=status, discharge_time=discharge_time, pi=pi,
        validity=validity,
    )


def _read_smsc(r: _Reader) -> Address | None:
    length = r.octet("SMSC address")
    if length == 0:
        return None
    body = r.take(length, "SMSC address")
    toa = body[0]
    digits_octets = body[1:]
    if (toa >> 4) & 0x07 == TON_ALPHANUMERIC:
        septets = len(digits_octets) * 8 // SEPTET_BITS
        return Address(decode_septets(unpack_septets(digits_octets, septets), DEFAULT_TABLES), toa)
    return Address(_with_plus(_bcd(digits_octets, len(digits_octets) * 2), toa), toa)


def _read_address(r: _Reader, field: str) -> Address:
    semi_octets = r.octet(field)
    toa = r.octet(field)
    body = r.take((semi_octets + 1) // 2, field)
    if (toa >> 4) & 0x07 == TON_ALPHANUMERIC:
        # The length counts the useful semi-octets of the packed septets (TS 23.040 §9.1.2.5).
        septets = semi_octets * 4 // SEPTET_BITS
        return Address(decode_septets(unpack_septets(body, septets), DEFAULT_TABLES), toa)
    return Address(_with_plus(_bcd(body, semi_octets), toa), toa)


def _with_plus(digits: str, toa: int) -> str:
    if (toa >> 4) & 0x07 == TON_INTERNATIONAL and digits:
        return "+" + digits
    return digits


def _bcd(body: bytes, count: int) -> str:
    out = []
    for i in range(count):
        octet = body[i // 2]
        nibble = octet >> 4 if i % 2 else octet & 0x0F
        if nibble != _BCD_FILLER:
            out.append(_BCD_DIGITS[nibble])
    return "".join(out)


def _read_dcs(r: _Reader) -> DataCoding:
    return decode_dcs(r.octet("TP-DCS"))


def decode_dcs(raw: int) -> DataCoding:
    """TP-DCS per TS 23.038 §4; reserved codings read as GSM 7-bit, as a receiver must."""
    group = raw >> 4
    if group <= 0x7:
        # 00xx general, 01xx automatic deletion: same layout for bits 5..0.
        return DataCoding(
            raw=raw,
            alphabet=_GENERAL_ALPHABETS[(raw >> 2) & 0x03],
            group="general" if group <= 0x3 else "auto-delete",
            message_class=raw & 0x03 if raw & 0x10 else None,
            compressed=bool(raw & 0x20),
        )
    if group <= 0xB:
        return DataCoding(raw=raw, alphabet="gsm7", group="reserved", message_class=None)
    if group <= 0xE:
        mwi = MessageWaiting(active=bool(raw & 0x08), kind=MWI_TYPES[raw & 0x03])
        if group == 0xC:
            return DataCoding(raw=raw, alphabet="gsm7", group="mwi-discard", message_class=None,
                              mwi=mwi)
        return DataCoding(
            raw=raw, alphabet="ucs2" if group == 0xE else "gsm7", group="mwi-store",
            message_class=None, mwi=mwi,
        )
    return DataCoding(
        raw=raw,
        alphabet="8bit" if raw & 0x04 else "gsm7",
        group="data-coding/class",
        message_class=raw & 0x03,
    )


_GSM7_DCS = decode_dcs(0x00)


def _read_timestamp(r: _Reader, field: str) -> datetime:
    start = r.pos
    octets = r.take(TIMESTAMP_OCTETS, field)
    return decode_timestamp(octets, field, start)


def decode_timestamp(
    octets: bytes, field: str = "timestamp", offset: int | None = None
) -> datetime:
    """A TS 23.040 §9.2.3.11 time stamp: semi-octet date and time, zone in signed quarter hours."""
    values = []
    for i, octet in enumerate(octets[:6]):
        lo, hi = octet & 0x0F, octet >> 4
        if lo > 9 or hi > 9:
            raise PduError(f"octet {i + 1} ({octet:02X}) is not two decimal digits", field=field,
                           offset=offset)
        values.append(lo * 10 + hi)
    tz = octets[6]
    tens, units = tz & 0x07, tz >> 4
    if units > 9:
        raise PduError(f"time zone octet {tz:02X} is not decimal", field=field, offset=offset)
    quarters = tens * 10 + units
    if tz & 0x08:
        quarters = -quarters
    yy, month, day, hour, minute, second = values
    year = 1900 + yy if yy >= _CENTURY_PIVOT_YY else 2000 + yy
    try:
        return datetime(year, month, day, hour, minute, second,
                        tzinfo=timezone(timedelta(minutes=15 * quarters)))
    except ValueError:
        stamp = "".join(f"{v:02d}" for v in values)
        raise PduError(f"{stamp} is not a valid date and time", field=field,
                       offset=offset) from None


def _read_validity(r: _Reader, vpf: int) -> Validity | None:
    if vpf == 0:
        return None
    if vpf == 2:
        return Validity("relative", duration=relative_validity(r.octet("TP-VP")))
    start = r.pos
    octets = r.take(TIMESTAMP_OCTETS, "TP-VP")
    if vpf == 3:
        return Validity("absolute", time=decode_timestamp(octets, "TP-VP", start), raw=octets)
    return Validity("enhanced", raw=octets)


def relative_validity(value: int) -> timedelta:
    """The duration a relative TP-VP octet stands for (TS 23.040 §9.2.3.12.1)."""
    if value <= 143:
        return timedelta(minutes=(value + 1) * 5)
    if value <= 167:
        return timedelta(hours=12, minutes=(value - 143) * 30)
    if value <= 196:
        return timedelta(days=value - 166)
    return timedelta(weeks=value - 192)


@dataclass(frozen=True)
class _UserData:
    """What TP-UDL and TP-UD gave: header elements, text or data, and whether it was cut short."""

    text: str | None
    payload: bytes | None
    truncated: bool
    elements: tuple[InformationElement, ...]
    national: NationalLanguage | None


_NO_USER_DATA = _UserData(None, None, False, (), None)


def _read_user_data(r: _Reader, dcs: DataCoding, udhi: bool) -> _UserData:
    udl_offset = r.pos
    udl = r.octet("TP-UDL")
    ud_offset = r.pos
    septets = dcs.alphabet == "gsm7" and not dcs.compressed
    wanted = (udl * SEPTET_BITS + 7) // 8 if septets else udl
    ud = r.rest()
    truncated = len(ud) < wanted
    ud = ud[:wanted]

    header_octets = 0
    elements: tuple[InformationElement, ...] = ()
    if udhi:
        if not ud:
            raise PduError("TP-UDHI is set but there is no user data header", field="TP-UD",
                           offset=ud_offset)
        udhl = ud[0]
        header_octets = udhl + 1
        if header_octets > wanted:
            raise PduError(f"header length {udhl} exceeds TP-UDL {udl}", field="TP-UDH",
                           offset=ud_offset)
        if header_octets > len(ud):
            raise PduError(f"header length {udhl} runs past the end of the PDU", field="TP-UDH",
                           offset=ud_offset)
        elements = _parse_elements(ud[1:header_octets], ud_offset + 1)
    national = _national(elements)

    if septets:
        header_septets = (header_octets * 8 + SEPTET_BITS - 1) // SEPTET_BITS
        if header_septets > udl:
            raise PduError(f"TP-UDL {udl} septets is shorter than the header", field="TP-UDL",
                           offset=udl_offset)
        available = min(udl, len(ud) * 8 // SEPTET_BITS)
        values = unpack_septets(ud, available)[header_septets:]
        tables = tables_for(
            national.locking_shift if national else None,
            national.single_shift if national else None,
        )
        text = decode_septets(values, tables)
        return _UserData(text, bytes(values), truncated, elements, national)

    payload = ud[header_octets:]
    if dcs.alphabet == "ucs2" and not dcs.compressed:
        if truncated and len(payload) % 2:
            # The cut fell inside a code unit: that half unit is not text.
            payload = payload[:-1]
        text = payload.decode("utf-16-be", errors="replace")
        return _UserData(text, payload, truncated, elements, national)
    return _UserData(None, payload, truncated, elements, national)


def _parse_elements(header: bytes, offset: int) -> tuple[InformationElement, ...]:
    out = []
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            raise PduError("information element cut off by the header length", field="TP-UDH",
                           offset=offset + i)
        iei, length = header[i], header[i + 1]
        if i + 2 + length > len(header):
            raise PduError(f"information element {iei:02X} of {length} octets overruns the header",
                           field="TP-UDH", offset=offset + i)
        out.append(InformationElement(iei, bytes(header[i + 2:i + 2 + length])))
        i += 2 + length
    return tuple(out)


def _concat(ie: InformationElement) -> Concatenation | None:
    d = ie.data
    if ie.iei == IEI_CONCAT_8 and len(d) == 3:
        ref, total, seq, bits = d[0], d[1], d[2], 8
    elif ie.iei == IEI_CONCAT_16 and len(d) == 4:
        ref, total, seq, bits = (d[0] << 8) | d[1], d[2], d[3], 16
    else:
        return None
    # TS 23.040 §9.2.3.24.1: a zero count, or a sequence number of zero or past the count,
    # means the element is to be ignored.
    if total == 0 or seq == 0 or seq > total:
        return None
    return Concatenation(ref=ref, total=total, seq=seq, ref_bits=bits)


def _ports(ie: InformationElement) -> PortAddressing | None:
    d = ie.data
    if ie.iei == IEI_PORTS_8 and len(d) == 2:
        return PortAddressing(dst=d[0], src=d[1], bits=8)
    if ie.iei == IEI_PORTS_16 and len(d) == 4:
        return PortAddressing(dst=(d[0] << 8) | d[1], src=(d[2] << 8) | d[3], bits=16)
    return None


def _special(ie: InformationElement) -> SpecialIndication | None:
    if ie.iei != IEI_SPECIAL_INDICATION or len(ie.data) != 2:
        return None
    octet, count = ie.data[0], ie.data[1]
    return SpecialIndication(
        store=bool(octet & 0x80),
        kind=octet & 0x03,
        count=count,
        extended_kind=(octet >> 2) & 0x07,
        profile=(octet >> 5) & 0x03,
    )


def _national(elements: tuple[InformationElement, ...]) -> NationalLanguage | None:
    locking: int | None = None
    single: int | None = None
    for ie in elements:
        if len(ie.data) != 1:
            continue
        if ie.iei == IEI_LOCKING_SHIFT:
            locking = ie.data[0]
        elif ie.iei == IEI_SINGLE_SHIFT:
            single = ie.data[0]
    if locking is None and single is None:
        return None
    unsupported = tables_for(locking, single).unsupported
    return NationalLanguage(locking_shift=locking, single_shift=single, unsupported=unsupported)
