"""National language tables 4-13 (Indic scripts and Urdu, TS 23.038 A.2.4-A.2.13 / A.3.4-A.3.13): decoded with
their locking and single shift tables, the positions where the transcriptions of the spec disagree settled,
and the hand-written tables 0-3 cross-checked against the gsmcodecs package's."""

from __future__ import annotations

import gsmcodecs  # noqa: F401  (registers the gsm23.038-X-Y codecs used to encode independently)
import pytest
from gsmcodecs.charmaps import GSMCHARMAPS

from simhost_drivers.pdu.gsm7 import ESC, INDIC_LANGUAGES, LOCKING_TABLES, SHIFT_TABLES, UNDEFINED, tables_for
from tests.pdu.test_pdu_decoder import _national

HINDI = 6


def _header(locking: int | None, single: int | None) -> str:
    elements = ""
    if single is not None:
        elements += f"2401{single:02X}"
    if locking is not None:
        elements += f"2501{locking:02X}"
    return f"{len(elements) // 2:02X}" + elements


def test_hindi_text_with_locking_and_single_shift_tables() -> None:
    text = "नमस्ते 482913 है।"
    septets = list(text.encode("gsm23.038-6-6"))  # one septet per octet, ESC for the single shift
    assert ESC in septets  # the danda comes from the single shift table
    got = _national(_header(HINDI, HINDI), septets)
    assert got["text"] == text
    assert got["national_language"] == {"locking_shift": HINDI, "single_shift": HINDI}


@pytest.mark.parametrize("language", list(INDIC_LANGUAGES))
def test_every_indic_and_urdu_table_round_trips_its_letters(language: int) -> None:
    """Every character the locking table defines (but 0x2C, see below) decodes from the septet gsmcodecs'
    codec encodes it to."""
    letters = "".join(chr(v) for k, v in sorted(GSMCHARMAPS[language]["locking"]["decode"].items())
                      if k not in (ESC, 0x0A, 0x0D, 0x2C))
    got = _national(_header(language, language), list(letters.encode(f"gsm23.038-{language}-{language}")))
    assert got["text"] == letters
    assert "unsupported" not in got["national_language"]


@pytest.mark.parametrize("language", list(INDIC_LANGUAGES))
def test_table_structure_shared_by_all_indic_tables(language: int) -> None:
    tables = tables_for(language, language)
    assert len(tables.locking) == 128
    assert (tables.locking[0x0A], tables.locking[0x0D], tables.locking[0x20]) == ("\n", "\r", " ")
    assert tables.locking[0x30:0x3A] == "0123456789"
    assert tables.locking[0x61:0x7B] == "abcdefghijklmnopqrstuvwxyz"
    # a comma at 0x2C: gsmcodecs has an apostrophe there, CyberChef's transcription and Android a comma
    assert tables.locking[0x2C] == ","
    assert tables.shift[0x65] == "€"
    assert tables.shift[0x40] == "|"


@pytest.mark.parametrize(("language", "septets", "text"), [
    (7, [0x24], "\u0caa"),  # Kannada 0x24: KANNADA LETTER PA, as both transcriptions of the spec have it
    (13, [0x00, 0x01], "\u0627\u0622"),  # Urdu: alef, alef with madda
    (11, [0x11], UNDEFINED),  # Tamil 0x11 is empty in the table: shown, not dropped
    (12, [ESC, 0x65], "€"),  # Telugu single shift: the euro sign gsmcodecs leaves out
    (9, [ESC, 0x20], "\u0b6a"),  # Oriya single shift 0x20: ORIYA DIGIT FOUR
])
def test_positions_checked_against_a_second_transcription(language: int, septets: list[int], text: str) -> None:
    assert _national(_header(language, language), septets)["text"] == text


def test_hand_written_tables_agree_with_gsmcodecs() -> None:
    for language, table in LOCKING_TABLES.items():
        theirs = GSMCHARMAPS[language]["locking"]["decode"]
        assert [i for i in range(128) if i != ESC and table[i] != chr(theirs[i])] == [], language
    for language, shift in SHIFT_TABLES.items():
        theirs = {k: chr(v) for k, v in GSMCHARMAPS[language]["singleShift"]["decode"].items() if k != ESC}
        assert shift == theirs, language


def test_locking_only_keeps_the_default_extension_table() -> None:
    got = _national(_header(HINDI, None), [0x03, ESC, 0x65])
    assert got["text"] == "अ€"
    assert got["national_language"] == {"locking_shift": HINDI}
