"""SMS-SUBMIT encoder (TS 23.040 §9.2.2.2): GSM 7-bit or UCS2 text, concatenated parts when long."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from simhost_drivers.pdu.decoder import relative_validity
from simhost_drivers.pdu.errors import PduError
from simhost_drivers.pdu.gsm7 import SEPTET_BITS, encode_char, is_gsm7, pack_septets

Encoding = Literal["auto", "gsm7", "ucs2"]
TextAlphabet = Literal["gsm7", "ucs2"]

SINGLE_GSM7_SEPTETS = 160
SINGLE_UCS2_OCTETS = 140
# A part with the 8-bit concatenation header (6 octets) leaves 153 septets or 134 octets.
CONCAT_HEADER_OCTETS = 6
PART_GSM7_SEPTETS = 153
PART_UCS2_OCTETS = 134
MAX_PARTS = 255
MAX_ADDRESS_DIGITS = 20

TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN = 0x81
DCS_GSM7 = 0x00
DCS_UCS2 = 0x08
DCS_CLASS0 = 0x10
FIRST_SUBMIT = 0x01
FIRST_VPF_RELATIVE = 0x10
FIRST_SRR = 0x20
FIRST_UDHI = 0x40

_BCD_VALUES = {**{str(d): d for d in range(10)}, "*": 0xA, "#": 0xB}


@dataclass(frozen=True)
class SubmitPdu:
    """One SMS-SUBMIT ready for `AT+CMGS=<tpdu_length>` in PDU mode (send `hex`, then Ctrl-Z)."""

    pdu: bytes
    tpdu_length: int

    @property
    def hex(self) -> str:
        return self.pdu.hex().upper()


def encode_submit(
    recipient: str,
    text: str,
    *,
    smsc: str | None = None,
    mr: int = 0,
    concat_ref: int = 0,
    request_status_report: bool = False,
    validity: timedelta | None = None,
    flash: bool = False,
    encoding: Encoding = "auto",
    max_parts: int = MAX_PARTS,
) -> list[SubmitPdu]:
    """SMS-SUBMIT PDUs (SMSC field first) carrying `text` to `recipient` (`+E.164` or digits).

    `encoding="auto"` uses GSM 7-bit when every character has a code there (extension table
    included) and UCS2 otherwise. Text longer than one SMS is split into parts with an 8-bit
    concatenation reference `concat_ref`, never inside an escape pair or a surrogate pair.
    `smsc=None` leaves the SMSC to the modem's setting (`AT+CSCA`). Raises PduError for what
    cannot be encoded, and for a text needing more than `max_parts` parts (at most 255).
    """
    if not 0 <= mr <= 0xFF:
        raise PduError(f"message reference {mr} is not 0..255", field="TP-MR")
    if not 0 <= concat_ref <= 0xFF:
        raise PduError(f"concatenation reference {concat_ref} is not 0..255", field="TP-UDH")
    _check_max_parts(max_parts)
    smsc_field = _smsc_field(smsc)
    da = _address_field(recipient)
    use_gsm7, chunks = _chunks(text, encoding)
    if len(chunks) > max_parts:
        raise PduError(f"text needs {len(chunks)} parts, the limit is {max_parts}")
    dcs = (DCS_GSM7 if use_gsm7 else DCS_UCS2) | (DCS_CLASS0 if flash else 0)
    out = []
    for index, chunk in enumerate(chunks):
        header = b""
        if len(chunks) > 1:
            header = bytes([CONCAT_HEADER_OCTETS - 1, 0x00, 0x03, concat_ref, len(chunks),
                            index + 1])
        udl, ud = _user_data(header, chunk, use_gsm7)
        first = FIRST_SUBMIT
        if validity is not None:
            first |= FIRST_VPF_RELATIVE
        if request_status_report:
            first |= FIRST_SRR
        if header:
            first |= FIRST_UDHI
        tpdu = bytearray([first, (mr + index) & 0xFF])
        tpdu += da
        tpdu += bytes([0x00, dcs])
        if validity is not None:
            tpdu.append(_relative_validity_octet(validity))
        tpdu.append(udl)
        tpdu += ud
        out.append(SubmitPdu(pdu=bytes(smsc_field + tpdu), tpdu_length=len(tpdu)))
    return out


def count_parts(text: str, encoding: Encoding = "auto") -> tuple[int, TextAlphabet]:
    """How many SMS-SUBMIT parts `encode_submit` would make of `text`, and in which alphabet.

    Lets a sender refuse a text before queuing it. Raises PduError as `encode_submit` does
    for a text that `encoding="gsm7"` cannot carry.
    """
    use_gsm7, chunks = _chunks(text, encoding)
    return len(chunks), "gsm7" if use_gsm7 else "ucs2"


def _check_max_parts(max_parts: int) -> None:
    if not 1 <= max_parts <= MAX_PARTS:
        raise PduError(f"max_parts {max_parts} is not 1..{MAX_PARTS}")


def split_text(text: str, encoding: Encoding = "auto") -> tuple[bool, list[bytes]]:
    """(GSM 7-bit?, the parts' user data unpacked): septet values one per byte (the escape as its own septet,
    never split from its character) or UTF-16BE (a character never split), each fitting one SMS with a
    concatenation header (one part when the whole fits one SMS without it). SMPP carries them so."""
    return _chunks(text, encoding)


def _chunks(text: str, encoding: Encoding) -> tuple[bool, list[bytes]]:
    use_gsm7 = _choose_gsm7(text, encoding)
    return use_gsm7, _gsm7_chunks(text) if use_gsm7 else _ucs2_chunks(text)


def _choose_gsm7(text: str, encoding: Encoding) -> bool:
    if encoding == "ucs2":
        return False
    if is_gsm7(text):
        return True
    if encoding == "gsm7":
        bad = next(ch for ch in text if encode_char(ch) is None)
        raise PduError(f"character {bad!r} (U+{ord(bad):04X}) has no GSM 7-bit code")
    return False


def _gsm7_chunks(text: str) -> list[bytes]:
    septets = [s for ch in text for s in _encode(ch)]
    if len(septets) <= SINGLE_GSM7_SEPTETS:
        return [bytes(septets)]
    chunks: list[bytes] = []
    current = bytearray()
    for ch in text:
        codes = _encode(ch)
        if len(current) + len(codes) > PART_GSM7_SEPTETS:
            chunks.append(bytes(current))
            current = bytearray()
        current += bytes(codes)
    chunks.append(bytes(current))
    return chunks


def _encode(ch: str) -> tuple[int, ...]:
    codes = encode_char(ch)
    if codes is None:
        raise PduError(f"character {ch!r} (U+{ord(ch):04X}) has no GSM 7-bit code")
    return codes


def _ucs2_chunks(text: str) -> list[bytes]:
    data = text.encode("utf-16-be", errors="surrogatepass")
    if len(data) <= SINGLE_UCS2_OCTETS:
        return [data]
    chunks: list[bytes] = []
    current = bytearray()
    for units in _ucs2_characters(text):
        if len(current) + len(units) > PART_UCS2_OCTETS:
            chunks.append(bytes(current))
            current = bytearray()
        current += units
    chunks.append(bytes(current))
    return chunks


def _ucs2_characters(text: str) -> Iterator[bytes]:
    for ch in text:
        yield ch.encode("utf-16-be", errors="surrogatepass")


def _user_data(header: bytes, chunk: bytes, gsm7: bool) -> tuple[int, bytes]:
    if not gsm7:
        return len(header) + len(chunk), header + chunk
    header_septets = (len(header) * 8 + SEPTET_BITS - 1) // SEPTET_BITS
    fill_bits = header_septets * SEPTET_BITS - len(header) * 8
    return header_septets + len(chunk), header + pack_septets(chunk, fill_bits)


def _digits(number: str, what: str) -> tuple[int, str]:
    cleaned = "".join(number.split())
    toa = TOA_UNKNOWN
    if cleaned.startswith("+"):
        toa, cleaned = TOA_INTERNATIONAL, cleaned[1:]
    valid = all(c in _BCD_VALUES for c in cleaned)
    if not cleaned or len(cleaned) > MAX_ADDRESS_DIGITS or not valid:
        raise PduError(f"{what} {number!r} is not a phone number (digits, * or #, 1 to 20 of them)")
    return toa, cleaned


def _semi_octets(digits: str) -> bytes:
    values = [_BCD_VALUES[c] for c in digits]
    if len(values) % 2:
        values.append(0x0F)
    return bytes(values[i] | (values[i + 1] << 4) for i in range(0, len(values), 2))


def _address_field(number: str) -> bytes:
    toa, digits = _digits(number, "recipient")
    return bytes([len(digits), toa]) + _semi_octets(digits)


def _smsc_field(smsc: str | None) -> bytes:
    if smsc is None:
        return b"\x00"
    toa, digits = _digits(smsc, "SMSC")
    body = bytes([toa]) + _semi_octets(digits)
    return bytes([len(body)]) + body


def _relative_validity_octet(validity: timedelta) -> int:
    for value in range(0x100):
        if relative_validity(value) >= validity:
            return value
    return 0xFF
