"""Every vector of data/pdu-vectors.jsonl decodes to exactly its expected fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simhost_drivers.pdu import DecodedPdu, decode_pdu
from tests.pdu.pdulib import VECTORS

# Keys to_json() may add beyond a vector's `expected` (documented in DecodedPdu.to_json).
DOCUMENTED_EXTRA_KEYS = {"ucs2_hex", "special_indications"}


def _decode(vector: dict[str, Any]) -> DecodedPdu:
    return decode_pdu(vector["pdu"], smsc_included=vector["smsc_included"])


def test_the_vectors_are_all_there() -> None:
    ids = [v["id"] for v in VECTORS]
    assert len(ids) == 75
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    got = _decode(vector).to_json()
    expected = vector["expected"]
    for key, value in expected.items():
        assert key in got, f"{key} missing"
        assert got[key] == value, f"{key}: {got[key]!r} != {value!r}"
    assert set(got) - set(expected) <= DOCUMENTED_EXTRA_KEYS


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_decodes_the_same_from_bytes_and_lower_case_hex(vector: dict[str, Any]) -> None:
    want = _decode(vector)
    raw = bytes.fromhex(vector["pdu"])
    assert decode_pdu(raw, smsc_included=vector["smsc_included"]) == want
    assert decode_pdu(bytearray(raw), smsc_included=vector["smsc_included"]) == want
    spaced = " ".join(vector["pdu"].lower()[i:i + 2] for i in range(0, len(vector["pdu"]), 2))
    assert decode_pdu(spaced + "\r\n", smsc_included=vector["smsc_included"]) == want


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_json_is_utf8_text(vector: dict[str, Any]) -> None:
    got = _decode(vector).to_json()
    text = json.dumps(got, ensure_ascii=False)
    assert json.loads(text.encode("utf-8").decode("utf-8")) == got


def test_exact_shape_for_every_vector() -> None:
    # Beyond the per-field comparison: none of the vectors needs a documented extra key.
    for vector in VECTORS:
        assert _decode(vector).to_json() == vector["expected"], vector["id"]
