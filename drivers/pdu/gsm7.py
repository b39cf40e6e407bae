"""GSM 7-bit alphabets (TS 23.038 §6.2, Annex A): default, extension, national tables; septets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

ESC = 0x1B
SEPTET_BITS = 7

# Position 0x1B of every locking table is the escape to the single shift table, never a character.
_ESC_SLOT = "\x1b"

DEFAULT_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ" + _ESC_SLOT + "ÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

# TS 23.038 A.3.1: differs from the default table at 0x04, 0x07, 0x0B, 0x0C, 0x1C, 0x1D, 0x40, 0x60.
TURKISH_LOCKING_TABLE = (
    "@£$¥€éùıòÇ\nĞğ\rÅåΔ_ΦΓΛΩΠΨΣΘΞ" + _ESC_SLOT + "ŞşßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "İABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "çabcdefghijklmnopqrstuvwxyzäöñüà"
)

# TS 23.038 A.3.3.
PORTUGUESE_LOCKING_TABLE = (
    "@£$¥êéúíóç\nÔô\rÁáΔ_ªÇÀ∞^\\€Ó|" + _ESC_SLOT + "ÂâÊÉ"
    " !\"#º%&'()*+,-./0123456789:;<=>?"
    "ÍABCDEFGHIJKLMNOPQRSTUVWXYZÃÕÚÜ§"
    "~abcdefghijklmnopqrstuvwxyzãõ`üà"
)

# TS 23.038 §6.2.1.1. Codes missing from a single shift table display as the locking table's
# character (§6.2.1.1 note); 0x0D (CR2) is a control code and falls back to CR that way.
DEFAULT_SHIFT_TABLE: dict[int, str] = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}

# TS 23.038 A.2.1.
TURKISH_SHIFT_TABLE: dict[int, str] = {
    **DEFAULT_SHIFT_TABLE,
    0x47: "Ğ", 0x49: "İ", 0x53: "Ş", 0x63: "ç", 0x67: "ğ", 0x69: "ı", 0x73: "ş",
}

# TS 23.038 A.2.2.
SPANISH_SHIFT_TABLE: dict[int, str] = {
    **DEFAULT_SHIFT_TABLE,
    0x09: "ç", 0x41: "Á", 0x49: "Í", 0x4F: "Ó", 0x55: "Ú",
    0x61: "á", 0x69: "í", 0x6F: "ó", 0x75: "ú",
}

# TS 23.038 A.2.3.
PORTUGUESE_SHIFT_TABLE: dict[int, str] = {
    **DEFAULT_SHIFT_TABLE,
    0x05: "ê", 0x09: "ç", 0x0B: "Ô", 0x0C: "ô", 0x0E: "Á", 0x0F: "á",
    0x12: "Φ", 0x13: "Γ", 0x15: "Ω", 0x16: "Π", 0x17: "Ψ", 0x18: "Σ", 0x19: "Θ", 0x1F: "Ê",
    0x41: "À", 0x49: "Í", 0x4F: "Ó", 0x55: "Ú", 0x5B: "Ã", 0x5C: "Õ",
    0x61: "Â", 0x69: "í", 0x6F: "ó", 0x75: "ú", 0x7B: "ã", 0x7C: "õ", 0x7F: "â",
}

# National language identifiers of TS 23.038 §6.2.1.2.4 (0 is the default alphabet).
LANGUAGE_NAMES = MappingProxyType({
    0: "default", 1: "Turkish", 2: "Spanish", 3: "Portuguese", 4: "Bengali", 5: "Gujarati",
    6: "Hindi", 7: "Kannada", 8: "Malayalam", 9: "Oriya", 10: "Punjabi", 11: "Tamil",
    12: "Telugu", 13: "Urdu",
})

# The Indic and Urdu tables (identifiers 4-13, TS 23.038 A.2.4-A.2.13, A.3.4-A.3.13) are long lists of
# code points: they come from the gsmcodecs package (transcribed from TS 23.038 v18), loaded on first use.
# Checked position by position against a second, independent transcription of the spec (CyberChef's, v16);
# the two agree except where gsmcodecs has an apostrophe at 0x2C of every Indic locking table, which the
# other transcription and Android's tables give as a comma, and the euro sign at 0x65 of the Telugu single
# shift table, which gsmcodecs alone leaves out. Those are set right here.
INDIC_LANGUAGES = range(4, 14)
UNDEFINED = "\ufffd"  # a code the table leaves empty: shown as the replacement character, never dropped
_INDIC_FIXES_LOCKING = {0x2C: ","}
_INDIC_FIXES_SHIFT = {12: {0x65: "\u20ac"}}


@cache
def _indic_tables() -> tuple[Mapping[int, str], Mapping[int, dict[int, str]]]:
    from gsmcodecs.charmaps import GSMCHARMAPS

    locking: dict[int, str] = {}
    shift: dict[int, dict[int, str]] = {}
    for lid in INDIC_LANGUAGES:
        lock_map = {**{k: chr(v) for k, v in GSMCHARMAPS[lid]["locking"]["decode"].items()}, **_INDIC_FIXES_LOCKING}
        locking[lid] = "".join(_ESC_SLOT if i == ESC else lock_map.get(i, UNDEFINED) for i in range(128))
        shift_map = {k: chr(v) for k, v in GSMCHARMAPS[lid]["singleShift"]["decode"].items() if k != ESC}
        shift[lid] = {**shift_map, **_INDIC_FIXES_SHIFT.get(lid, {})}
    return MappingProxyType(locking), MappingProxyType(shift)


LOCKING_TABLES = MappingProxyType({
    0: DEFAULT_TABLE, 1: TURKISH_LOCKING_TABLE, 3: PORTUGUESE_LOCKING_TABLE,
})
SHIFT_TABLES = MappingProxyType({
    0: DEFAULT_SHIFT_TABLE,
    1: TURKISH_SHIFT_TABLE,
    2: SPANISH_SHIFT_TABLE,
    3: PORTUGUESE_SHIFT_TABLE,
})


def locking_table(language: int) -> str | None:
    """The locking shift table of national language `language`; None where TS 23.038 defines none."""
    if language in INDIC_LANGUAGES:
        return _indic_tables()[0][language]
    return LOCKING_TABLES.get(language)


def shift_table(language: int) -> dict[int, str] | None:
    """The single shift table of national language `language`; None where TS 23.038 defines none."""
    if language in INDIC_LANGUAGES:
        return _indic_tables()[1][language]
    return SHIFT_TABLES.get(language)


@dataclass(frozen=True)
class Tables:
    """The tables a GSM 7-bit text is read with, and whether an indicated one was missing."""

    locking: str
    shift: dict[int, str]
    unsupported: bool = False


def tables_for(locking_shift: int | None, single_shift: int | None) -> Tables:
    """The tables for the national language identifiers of the UDH (None: not indicated).

    An identifier this codec has no table for falls back to the default table, as TS 23.040
    §9.2.3.24.15/16 require of a receiving entity that does not support the language.
    """
    unsupported = False
    locking = DEFAULT_TABLE
    if locking_shift is not None:
        found = locking_table(locking_shift)
        if found is None:
            unsupported = True
        else:
            locking = found
    shift = DEFAULT_SHIFT_TABLE
    if single_shift is not None:
        found_shift = shift_table(single_shift)
        if found_shift is None:
            unsupported = True
        else:
            shift = found_shift
    return Tables(locking, shift, unsupported)


DEFAULT_TABLES = Tables(DEFAULT_TABLE, DEFAULT_SHIFT_TABLE)


def decode_septets(septets: Sequence[int], tables: Tables = DEFAULT_TABLES) -> str:
    """Text of unpacked septet values (each 0..127)."""
    out: list[str] = []
    i = 0
    n = len(septets)
    while i < n:
        code = septets[i] & 0x7F
        i += 1
        if code != ESC:
            out.append(tables.locking[code])
            continue
        if i == n:
            # A lone trailing escape: TS 23.038 shows ESC as a space where it cannot be followed.
            out.append(" ")
            break
        nxt = septets[i] & 0x7F
        i += 1
        if nxt == ESC:
            # ESC ESC is reserved for a further extension table: displayed as a space (§6.2.1.1).
            out.append(" ")
        else:
            out.append(tables.shift.get(nxt, tables.locking[nxt]))
    return "".join(out)


def unpack_septets(data: bytes, count: int, skip_bits: int = 0) -> list[int]:
    """`count` septets packed LSB-first in `data`, starting `skip_bits` bits in.

    The caller makes sure the data holds them: `skip_bits + 7 * count <= 8 * len(data)`.
    """
    value = int.from_bytes(data, "little") >> skip_bits
    out = []
    for _ in range(count):
        out.append(value & 0x7F)
        value >>= SEPTET_BITS
    return out


def pack_septets(septets: Iterable[int], fill_bits: int = 0) -> bytes:
    """Septets packed LSB-first after `fill_bits` zero bits, as TS 23.038 §6.1.2.1 packs them."""
    value = 0
    nbits = fill_bits
    for s in septets:
        value |= (s & 0x7F) << nbits
        nbits += SEPTET_BITS
    return value.to_bytes((nbits + 7) // 8, "little")


_ENCODE_DEFAULT = {ch: code for code, ch in enumerate(DEFAULT_TABLE) if code != ESC}
_ENCODE_SHIFT = {ch: code for code, ch in DEFAULT_SHIFT_TABLE.items()}


def encode_char(ch: str) -> tuple[int, ...] | None:
    """Septets of one character in the default alphabet (two with the escape), None if none."""
    code = _ENCODE_DEFAULT.get(ch)
    if code is not None:
        return (code,)
    ext = _ENCODE_SHIFT.get(ch)
    if ext is not None:
        return (ESC, ext)
    return None


def is_gsm7(text: str) -> bool:
    """Whether every character of `text` is in the default alphabet or its extension table."""
    return all(encode_char(ch) is not None for ch in text)
