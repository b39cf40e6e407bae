"""Joining multipart text: parts in order, UCS2 surrogate pairs split across parts made whole."""

from __future__ import annotations

import json
from typing import Any

from simhost_drivers.pdu import decode_pdu, join_text
from tests.pdu.pdulib import VECTORS_BY_ID, deliver_hex, pack7


def _ucs2_part(seq: int, total: int, units_hex: str, ref: int = 0x42) -> str:
    header = f"050003{ref:02X}{total:02X}{seq:02X}"
    return deliver_hex(header + units_hex, 6 + len(units_hex) // 2, dcs=0x08, udhi=True)


# "A😀B" with the pair D83D DE00 cut between parts 1 and 2.
SPLIT_PAIR = [_ucs2_part(1, 2, "0041D83D"), _ucs2_part(2, 2, "DE000042")]


def test_split_surrogate_pair_each_part_alone() -> None:
    first, second = (decode_pdu(p) for p in SPLIT_PAIR)
    assert first.text == "A\ufffd"
    assert second.text == "\ufffdB"
    assert first.to_json()["ucs2_hex"] == "0041D83D"
    assert second.to_json()["ucs2_hex"] == "DE000042"
    json.dumps(first.to_json(), ensure_ascii=False).encode("utf-8")


def test_split_surrogate_pair_joined_from_decoded_parts() -> None:
    assert join_text([decode_pdu(p) for p in SPLIT_PAIR]) == "A😀B"


def test_split_surrogate_pair_joined_from_json_parts() -> None:
    parts = [json.loads(json.dumps(decode_pdu(p).to_json())) for p in SPLIT_PAIR]
    assert join_text(parts) == "A😀B"


def test_parts_that_do_not_follow_each_other_are_not_joined() -> None:
    # Part 2 of 3 is missing: 1 and 3 must not make a character out of their halves.
    parts = [_ucs2_part(1, 3, "0041D83D"), _ucs2_part(3, 3, "DE000042")]
    assert join_text([decode_pdu(p) for p in parts]) == "A\ufffd\ufffdB"


def test_whole_ucs2_parts_have_no_raw_key_and_still_join() -> None:
    parts = [decode_pdu(_ucs2_part(1, 2, "0041D83DDE00")), decode_pdu(_ucs2_part(2, 2, "0042"))]
    assert "ucs2_hex" not in parts[0].to_json()
    assert join_text(parts) == "A😀B"
    assert join_text([p.to_json() for p in parts]) == "A😀B"


def test_real_multipart_vectors() -> None:
    for first, second in [("android-multipart-1", "android-multipart-2"),
                          ("mm-multipart-1", "mm-multipart-2"),
                          ("pm-vodafone-1", "pm-vodafone-2"),
                          ("synth-ucs2-cyrillic-16bit-concat-1", "synth-ucs2-cyrillic-16bit-concat-2")]:
        vectors = [VECTORS_BY_ID[first], VECTORS_BY_ID[second]]
        want = "".join(v["expected"]["text"] for v in vectors)
        assert join_text([decode_pdu(v["pdu"]) for v in vectors]) == want
        assert join_text([v["expected"] for v in vectors]) == want


def test_gsm7_and_data_parts() -> None:
    gsm7 = decode_pdu(deliver_hex(pack7([0x68, 0x69]), 2))
    data = decode_pdu(deliver_hex("CAFE", 2, dcs=0x04))
    assert join_text([gsm7, data, gsm7]) == "hihi"
    assert join_text([data, data]) is None
    assert join_text([]) is None


def test_malformed_json_parts_do_not_break_joining() -> None:
    parts: list[dict[str, Any]] = [
        {"text": "a", "dcs": {"alphabet": "ucs2"}, "ucs2_hex": "not hex", "concat": None},
        {"text": "\ud800b", "dcs": {"alphabet": "ucs2"}, "concat": {"seq": "x"}},
        {"text": None},
        {"text": "c"},
    ]
    assert join_text(parts) == "a\ufffdbc"
