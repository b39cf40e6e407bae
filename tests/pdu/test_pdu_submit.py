"""SMS-SUBMIT encoders on one table of cases, each PDU read back by our decoder and by gammu's.

Ours (`encode_submit`) must be right on every case. python-gsmmodem-new's `encodeSmsSubmitPdu`
is checked on the same cases: where it is right the test says so, where it is wrong the test
pins what it gets wrong, so that a gsmmodem release fixing it makes that test fail.

gammu reads the PDUs through python-gammu's `gammu.DecodePDU`. It does not return TP-SRR,
TP-DCS or the recipient's type of address in its result: those are read from the trace that
libgammu writes while decoding (`gammu.SetDebugFile`), which is gammu's own reading of them.
In UCS2 text libgammu writes '~' as '~~' and U+0001 as '~' (its own escaping), and
python-gammu then cuts the text to the message's length: UCS2 texts here carry neither.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import gammu
import pytest
from gsmmodem.pdu import encodeSmsSubmitPdu
from hypothesis import given, settings
from hypothesis import strategies as st

from simhost_drivers.pdu import PduError, count_parts, decode_pdu, encode_submit, join_text
from simhost_drivers.pdu.encoder import MAX_PARTS

REF = 0x42
INTERNATIONAL = "+79161234567"
SMSC = "+79168999100"
EMOJI = "\U0001F600"
MAX_USER_DATA_OCTETS = 140
ESC = 0x1B


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    parts: int
    dcs: int
    recipient: str = INTERNATIONAL
    toa: int = 0x91
    srr: bool = False
    validity: timedelta | None = None
    smsc: str | None = None
    # Each part's text, given for every case of more than one part.
    part_texts: tuple[str, ...] | None = None


ESCAPE_AT_BOUNDARIES = "a" * 152 + "€" + "b" * 151 + "[" + "c" * 20
EMOJI_AT_BOUNDARIES = "Я" * 66 + EMOJI + "Ж" * 65 + EMOJI + "Ф" * 10

CASES = [
    Case("gsm7-short", "Hello, world! @£$¥", 1, 0x00),
    Case("gsm7-extension", "Price 5€ [a] {b} ^c~ \\d|", 1, 0x00),
    Case("gsm7-160", ("0123456789" * 16), 1, 0x00),
    Case("gsm7-161", ("0123456789" * 17)[:161], 2, 0x00,
         part_texts=(("0123456789" * 16)[:153], ("0123456789" * 17)[153:161])),
    # 152 septets + an escape pair would be 154 > 153: the pair opens part 2, and again part 3.
    Case("gsm7-3-parts-escape-at-boundary", ESCAPE_AT_BOUNDARIES, 3, 0x00,
         part_texts=("a" * 152, "€" + "b" * 151, "[" + "c" * 20)),
    Case("gsm7-section-sign", "§ 12 [x]", 1, 0x00),
    Case("ucs2-short", "Привет, мир!", 1, 0x08),
    Case("ucs2-70", ("Съешь же ещё этих мягких французских булок" * 2)[:70], 1, 0x08),
    Case("ucs2-71", ("Съешь же ещё этих мягких французских булок" * 2)[:71], 2, 0x08,
         part_texts=(("Съешь же ещё этих мягких французских булок" * 2)[:67],
                     ("Съешь же ещё этих мягких французских булок" * 2)[67:71])),
    # 66 characters are 132 octets; the surrogate pair (4 octets) would make 136 > 134.
    Case("ucs2-3-parts-emoji-at-boundary", EMOJI_AT_BOUNDARIES, 3, 0x08,
         part_texts=("Я" * 66, EMOJI + "Ж" * 65, EMOJI + "Ф" * 10)),
    Case("mixed-cyrillic", "Order #5: 3€ [ok], Привет", 1, 0x08),
    Case("mixed-grave-accent", "price `5` [x]", 1, 0x08),
    Case("recipient-national", "national", 1, 0x00, recipient="89161234567", toa=0x81),
    Case("recipient-international", "international", 1, 0x00, recipient="+4915112345678"),
    Case("status-report", "report please", 1, 0x00, srr=True),
    Case("validity-relative", "valid two days", 1, 0x00, validity=timedelta(days=2)),
    Case("smsc-from-sim", "default smsc", 1, 0x00),
    Case("smsc-given", "given smsc", 1, 0x00, smsc=SMSC),
]
CASES_BY_ID = {c.id: c for c in CASES}


@dataclass(frozen=True)
class Reading:
    """What a decoder read from the PDUs of one message, in the shape a Case predicts."""

    text: str
    part_texts: tuple[str, ...]
    concat: tuple[tuple[int, int, int] | None, ...]
    recipient: tuple[str, ...]
    toa: tuple[int, ...]
    srr: tuple[bool, ...]
    dcs: tuple[int, ...]
    validity_seconds: tuple[int | None, ...]
    smsc: tuple[str | None, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def expected(case: Case, pdus: list[bytes]) -> Reading:
    n = len(pdus)
    seconds = int(case.validity.total_seconds()) if case.validity is not None else None
    return Reading(
        text=case.text,
        part_texts=case.part_texts if case.part_texts is not None else (case.text,),
        concat=(None,) if case.parts == 1 else tuple((REF, case.parts, i + 1) for i in range(n)),
        recipient=(case.recipient,) * n,
        toa=(case.toa,) * n,
        srr=(case.srr,) * n,
        dcs=(case.dcs,) * n,
        validity_seconds=(seconds,) * n,
        smsc=(case.smsc,) * n,
    )


def ours_reading(pdus: list[bytes]) -> Reading:
    decoded = [decode_pdu(p) for p in pdus]
    for d in decoded:
        assert d.type == "SMS-SUBMIT"
        assert not d.truncated
    return Reading(
        text=join_text(decoded) or "",
        part_texts=tuple(d.text or "" for d in decoded),
        concat=tuple((d.concat.ref, d.concat.total, d.concat.seq) if d.concat else None
                     for d in decoded),
        recipient=tuple(d.address.number for d in decoded),
        toa=tuple(d.address.toa for d in decoded),
        srr=tuple(d.status_report_requested for d in decoded),
        dcs=tuple(d.dcs.raw if d.dcs else -1 for d in decoded),
        validity_seconds=tuple(int(d.validity.duration.total_seconds())
                               if d.validity and d.validity.duration else None for d in decoded),
        smsc=tuple(d.smsc.number if d.smsc else None for d in decoded),
        extra={"user_data": [d.user_data for d in decoded]},
    )


GAMMU_UCS2_UNREADABLE = {"~", "\x01", "\x00"}
_GAMMU_VALIDITY_UNITS = {"M": 60, "H": 3600, "D": 86400, "W": 7 * 86400}


def _gammu_one(pdu: bytes, trace: Path) -> tuple[dict[str, Any], str]:
    gammu.SetDebugLevel("textall")
    gammu.SetDebugFile(str(trace))
    try:
        message: dict[str, Any] = gammu.DecodePDU(pdu, SMSC=True)
    finally:
        gammu.SetDebugFile(None)
    return message, trace.read_text(encoding="utf-8", errors="replace")


def gammu_reading(pdus: list[bytes], tmp_path: Path) -> Reading:
    texts: list[str] = []
    concat: list[tuple[int, int, int] | None] = []
    recipient: list[str] = []
    toa: list[int] = []
    srr: list[bool] = []
    dcs: list[int] = []
    validity: list[int | None] = []
    smsc: list[str | None] = []
    for i, pdu in enumerate(pdus):
        message, trace = _gammu_one(pdu, tmp_path / f"gammu-{i}.log")
        assert message["Type"] == "Submit"
        # python-gammu sizes Text by Length, which counts septets (an escape pair is two) while
        # libgammu's text holds characters ending at a NUL: what follows the NUL is not text.
        texts.append(message["Text"].split("\x00")[0])
        udh = message["UDH"]
        if udh["Type"] == "NoUDH":
            concat.append(None)
        else:
            assert udh["Type"] == "ConcatenatedMessages", udh
            concat.append((udh["ID8bit"], udh["AllParts"], udh["PartNumber"]))
        recipient.append(message["Number"])
        # The trace names each address's type; the recipient's is the last one (the SMSC's first).
        toa.append(int(re.findall(r"^Number type ([0-9A-F]{2}) ", trace, re.M | re.I)[-1], 16))
        first = re.search(r"^SMS type: (.*)$", trace, re.M)
        assert first is not None, trace
        assert first.group(1).startswith("Submit"), trace
        srr.append("Delivery report requested" in first.group(1))
        dcs_line = re.search(r"^SMS DCS: 0x([0-9A-F]{2})$", trace, re.M | re.I)
        assert dcs_line is not None, trace
        dcs.append(int(dcs_line.group(1), 16))
        vp = message["SMSC"]["Validity"]
        validity.append(None if vp == "NA" else int(vp[:-1]) * _GAMMU_VALIDITY_UNITS[vp[-1]])
        smsc.append(message["SMSC"]["Number"] or None)
    order = sorted(range(len(pdus)), key=lambda i: (concat[i] or (0, 0, 0))[2])
    return Reading(
        text="".join(texts[i] for i in order),
        part_texts=tuple(texts),
        concat=tuple(concat),
        recipient=tuple(recipient),
        toa=tuple(toa),
        srr=tuple(srr),
        dcs=tuple(dcs),
        validity_seconds=tuple(validity),
        smsc=tuple(smsc),
    )


def _ours(case: Case) -> list[bytes]:
    return [p.pdu for p in encode_submit(
        case.recipient, case.text, smsc=case.smsc, concat_ref=REF,
        request_status_report=case.srr, validity=case.validity)]


def _gsmmodem(case: Case) -> list[bytes]:
    return [bytes(p.data) for p in encodeSmsSubmitPdu(
        case.recipient, case.text, reference=REF, validity=case.validity, smsc=case.smsc,
        requestStatusReport=case.srr)]


def _user_data_octets(pdu: bytes) -> tuple[int, int, int]:
    """TP-UDL, TP-DCS and the octets after TP-UDL, found by walking the SUBMIT's fields."""
    pos = 1 + pdu[0]
    first = pdu[pos]
    pos += 2  # first octet, TP-MR
    pos += 2 + (pdu[pos] + 1) // 2  # TP-DA: digit count, type, semi-octets
    dcs = pdu[pos + 1]
    pos += 2  # TP-PID, TP-DCS
    pos += {0: 0, 2: 1, 1: 7, 3: 7}[(first >> 3) & 0x03]
    return pdu[pos], dcs, len(pdu) - pos - 1


def check_right(case: Case, pdus: list[bytes], tmp_path: Path) -> None:
    """The checks an encoder passes on a case: both decoders read the case back, within limits."""
    assert len(pdus) == case.parts
    want = expected(case, pdus)
    ours = ours_reading(pdus)
    assert ours == want
    assert gammu_reading(pdus, tmp_path) == want
    for pdu in pdus:
        udl, dcs, octets = _user_data_octets(pdu)
        assert octets <= MAX_USER_DATA_OCTETS
        assert octets == (udl * 7 + 7) // 8 if dcs & 0x0C == 0 else octets == udl
        assert (pdu[0] == 0) == (case.smsc is None)
    for user_data in ours.extra["user_data"]:
        assert user_data is not None
        if case.dcs == 0x00:
            assert user_data[-1:] != bytes([ESC]), "an escape pair split across parts"
        else:
            assert not 0xD8 <= user_data[-2] <= 0xDB, "a surrogate pair split across parts"


def test_case_table_covers_the_brief() -> None:
    assert len(CASES_BY_ID) == len(CASES)
    assert all(c.part_texts is not None for c in CASES if c.parts > 1)
    assert CASES_BY_ID["smsc-from-sim"].smsc is None
    assert sum(1 for ch in ESCAPE_AT_BOUNDARIES if ch in "€[") == 2
    assert [len(t) for t in CASES_BY_ID["ucs2-3-parts-emoji-at-boundary"].part_texts or ()] == [
        66, 66, 11]
    assert not any(set(c.text) & GAMMU_UCS2_UNREADABLE for c in CASES if c.dcs == 0x08)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ours(case: Case, tmp_path: Path) -> None:
    pdus = encode_submit(case.recipient, case.text, smsc=case.smsc, concat_ref=REF,
                         request_status_report=case.srr, validity=case.validity)
    for p in pdus:
        assert p.tpdu_length == len(p.pdu) - 1 - p.pdu[0]
    check_right(case, [p.pdu for p in pdus], tmp_path)
    assert count_parts(case.text) == (case.parts, "gsm7" if case.dcs == 0x00 else "ucs2")


GSM7_ALPHABET = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡AZÄÖÑÜ§¿az"
                 "äöñüà^{}\\[]|€\f")


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(GSM7_ALPHABET + "ЯЖ`" + EMOJI), max_size=700))
def test_ours_any_text_read_back_by_gammu(text: str, tmp_path_factory: pytest.TempPathFactory,
                                          ) -> None:
    pdus = [p.pdu for p in encode_submit(INTERNATIONAL, text, concat_ref=REF)]
    reading = gammu_reading(pdus, tmp_path_factory.mktemp("gammu"))
    assert reading.text == text
    n = len(pdus)
    assert reading.concat == ((None,) if n == 1 else tuple((REF, n, i + 1) for i in range(n)))
    assert count_parts(text)[0] == n


@dataclass(frozen=True)
class KnownWrong:
    """What gsmmodem's encoder gets wrong on one case, and a check that it still does."""

    why: str
    still_wrong: Callable[[Case, Path], None]


def _raises_on_astral(case: Case, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"byte must be in range\(0, 256\)"):
        _gsmmodem(case)


def _grave_accent_sent_as_section_sign(case: Case, tmp_path: Path) -> None:
    pdus = _gsmmodem(case)
    wrong = case.text.replace("`", "§")
    for reading in (ours_reading(pdus), gammu_reading(pdus, tmp_path)):
        assert reading.text == wrong
        assert reading.dcs == (0x00,)


def _section_sign_sent_as_ucs2(case: Case, tmp_path: Path) -> None:
    pdus = _gsmmodem(case)
    for reading in (ours_reading(pdus), gammu_reading(pdus, tmp_path)):
        assert reading.text == case.text
        assert reading.dcs == (0x08,)


def _national_type_of_number(case: Case, tmp_path: Path) -> None:
    pdus = _gsmmodem(case)
    for reading in (ours_reading(pdus), gammu_reading(pdus, tmp_path)):
        assert reading.recipient == (case.recipient,)
        assert reading.toa == (0xA1,)


GSMMODEM_WRONG: dict[str, KnownWrong] = {
    "ucs2-3-parts-emoji-at-boundary": KnownWrong(
        "encodeUcs2 writes each code point as one 16-bit unit (no surrogate pairs), so a"
        " character above U+FFFF raises; divideTextUcs2 also cuts every 67 code points, which"
        " an emoji would push past 134 octets", _raises_on_astral),
    "mixed-grave-accent": KnownWrong(
        "its GSM 7-bit table has '`' at 0x5F, where TS 23.038 has '§': the grave accent, which"
        " has no GSM 7-bit code and needs UCS2, is sent as 0x5F and arrives as '§'",
        _grave_accent_sent_as_section_sign),
    "gsm7-section-sign": KnownWrong(
        "'§' (0x5F in the default alphabet) is missing from its table, so a text GSM 7-bit"
        " carries goes as UCS2 (DCS 0x08): half the characters per part", _section_sign_sent_as_ucs2),
    "recipient-national": KnownWrong(
        "any all-digit number gets type of number 'national' (TOA 0xA1); a number as dialled,"
        " trunk prefix included, is TON 'unknown' (0x81): TS 23.040 §9.1.2.5 leaves prefixes out"
        " of national numbers", _national_type_of_number),
}
GSMMODEM_RIGHT = [c for c in CASES if c.id not in GSMMODEM_WRONG]


def test_gsmmodem_wrong_list_names_real_cases() -> None:
    assert set(GSMMODEM_WRONG) <= set(CASES_BY_ID)


@pytest.mark.parametrize("case", GSMMODEM_RIGHT, ids=[c.id for c in GSMMODEM_RIGHT])
def test_gsmmodem_right(case: Case, tmp_path: Path) -> None:
    check_right(case, _gsmmodem(case), tmp_path)


@pytest.mark.parametrize("case_id", sorted(GSMMODEM_WRONG), ids=sorted(GSMMODEM_WRONG))
def test_gsmmodem_wrong(case_id: str, tmp_path: Path) -> None:
    case = CASES_BY_ID[case_id]
    check_right(case, _ours(case), tmp_path)
    known = GSMMODEM_WRONG[case_id]
    try:
        known.still_wrong(case, tmp_path)
    except AssertionError as exc:
        raise AssertionError(f"gsmmodem changed on {case_id} ({known.why})") from exc


def test_max_parts_bound() -> None:
    text = "x" * (153 * 3 + 1)
    assert count_parts(text) == (4, "gsm7")
    assert len(encode_submit(INTERNATIONAL, text, max_parts=4)) == 4
    with pytest.raises(PduError, match="text needs 4 parts, the limit is 3"):
        encode_submit(INTERNATIONAL, text, max_parts=3)
    with pytest.raises(PduError, match="text needs 256 parts, the limit is 255"):
        encode_submit(INTERNATIONAL, "x" * (153 * 255 + 1))
    for bad in (0, MAX_PARTS + 1):
        with pytest.raises(PduError, match=f"max_parts {bad} is not 1..255"):
            encode_submit(INTERNATIONAL, "x", max_parts=bad)


@pytest.mark.parametrize(("text", "encoding", "want"), [
    ("", "auto", (1, "gsm7")),
    ("a" * 160, "auto", (1, "gsm7")),
    ("€" * 80, "auto", (1, "gsm7")),
    ("€" * 80 + "a", "auto", (2, "gsm7")),
    ("a" * 306, "auto", (2, "gsm7")),
    ("a" * 307, "auto", (3, "gsm7")),
    ("Я" * 70, "auto", (1, "ucs2")),
    (EMOJI * 35, "auto", (1, "ucs2")),
    (EMOJI * 35 + "Я", "auto", (2, "ucs2")),
    ("a" * 71, "ucs2", (2, "ucs2")),
    ("a`", "auto", (1, "ucs2")),
])
def test_count_parts(text: str, encoding: str, want: tuple[int, str]) -> None:
    assert count_parts(text, encoding) == want  # type: ignore[arg-type]
    assert len(encode_submit(INTERNATIONAL, text, encoding=encoding)) == want[0]  # type: ignore[arg-type]


def test_count_parts_refuses_what_gsm7_cannot_carry() -> None:
    with pytest.raises(PduError, match=r"character 'Я' \(U\+042F\) has no GSM 7-bit code"):
        count_parts("aЯ", "gsm7")
