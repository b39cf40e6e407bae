"""Property-based fuzzing: any input decodes or raises PduError, deterministically, into UTF-8 JSON."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from simhost_drivers.pdu import DecodedPdu, PduError, decode_pdu, join_text
from tests.pdu.pdulib import VECTORS

VECTOR_BYTES = [bytes.fromhex(v["pdu"]) for v in VECTORS]
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: bytes | str, smsc_included: bool = True) -> DecodedPdu | None:
    """Decode twice; PduError is the only failure allowed, and both runs must agree."""
    outcomes = []
    for _ in range(2):
        try:
            decoded = decode_pdu(data, smsc_included=smsc_included)
        except PduError as exc:
            outcomes.append(("error", str(exc).encode("utf-8")))
            continue
        as_json = decoded.to_json()
        encoded = json.dumps(as_json, ensure_ascii=False).encode("utf-8")
        assert json.loads(encoded) == as_json
        join_text([decoded])
        join_text([as_json])
        outcomes.append(("ok", encoded))
    assert outcomes[0] == outcomes[1]
    if outcomes[0][0] == "error":
        message = outcomes[0][1].decode("utf-8")
        assert message
        assert "\n" not in message
    if outcomes[0][0] == "ok":
        return decode_pdu(data, smsc_included=smsc_included)
    return None


@FUZZ
@given(data=st.binary(max_size=200), smsc_included=st.booleans())
@example(data=b"", smsc_included=True)
@example(data=b"\x00\x44\x00\x00\x00\x00\xff", smsc_included=True)
def test_random_bytes(data: bytes, smsc_included: bool) -> None:
    _check(data, smsc_included)


@FUZZ
@given(text=st.text(max_size=80))
def test_random_text(text: str) -> None:
    _check(text)


@FUZZ
@given(text=st.text(alphabet="0123456789abcdefABCDEF \t\r\n", max_size=300))
def test_random_hex_text(text: str) -> None:
    _check(text)


@st.composite
def mutated_vectors(draw: st.DrawFn) -> bytes:
    """A real vector with a few octets changed, inserted, deleted, or its tail cut off."""
    data = bytearray(draw(st.sampled_from(VECTOR_BYTES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete", "cut"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 4))]
        elif kind == "cut":
            del data[pos:]
    return bytes(data)


@FUZZ
@given(data=mutated_vectors(), smsc_included=st.booleans())
def test_mutated_vectors(data: bytes, smsc_included: bool) -> None:
    _check(data, smsc_included)


@FUZZ
@given(data=mutated_vectors())
def test_mutated_vectors_as_hex(data: bytes) -> None:
    _check(data.hex())


def test_every_prefix_of_every_vector() -> None:
    # A PDU cut anywhere is an error or, once past TP-UDL, a truncated decoding; only a cut in
    # what follows the user data (or in a status report's optional tail) loses nothing.
    for raw in VECTOR_BYTES:
        full = decode_pdu(raw).to_json()
        for end in range(len(raw)):
            decoded = _check(raw[:end])
            if decoded is None or decoded.type == "SMS-STATUS-REPORT":
                continue
            assert decoded.truncated or decoded.to_json() == full, raw[:end].hex()
