"""Cross-check with python-gsmmodem-new's decoder: it agrees with ours except where it is known wrong.

Each known error is pinned (what gsmmodem returns, and why that is wrong), so a gsmmodem release
that fixes one makes its test fail and the entry can be removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from gsmmodem.pdu import decodeSmsPdu

from simhost_drivers.pdu import decode_pdu
from tests.pdu.pdulib import VECTORS, VECTORS_BY_ID


@dataclass(frozen=True)
class KnownWrong:
    """gsmmodem's wrong value for one field of one vector (`prefix`: only its start is pinned)."""

    field: str
    gsmmodem: Any
    why: str
    prefix: bool = False


KNOWN_WRONG: dict[str, KnownWrong] = {
    "babca-zte-sr": KnownWrong(
        "sender", "+b08427829207025",
        "semi-octet 0xB is '#' (TS 23.040 §9.1.2.3), gsmmodem prints the hex digit 'b'"),
    "android-cingular-mwi": KnownWrong(
        "sender", "50",
        "the address length is 1 digit; gsmmodem reads both semi-octets of the octet"),
    "android-wap-1": KnownWrong(
        "exception", "StopIteration",
        "DCS 0xF5 (8-bit, group 1111) read as GSM 7-bit, septet unpacking runs off the end"),
    "android-wap-2": KnownWrong(
        "text", "\rΨ1¿HqΦfMΣ",
        "DCS 0xF5 (8-bit data, group 1111) decoded as GSM 7-bit text", prefix=True),
    "gammu-at-sms-26": KnownWrong(
        "exception", "StopIteration",
        "DCS 0xF5 (8-bit, group 1111) read as GSM 7-bit past the end of a UDH-only message"),
    "gammu-at-sms-40": KnownWrong(
        "text", "øòÇùÅÆ6iFé#Ψ",
        "DCS 0xF5 (8-bit data, group 1111) decoded as GSM 7-bit text", prefix=True),
    "mm-dcsf-8bit": KnownWrong(
        "text", "hellohellox",
        "DCS 0xF4 (8-bit data, class 0) decoded as GSM 7-bit text"),
    "mm-pdu1": KnownWrong(
        "text",
        "Here's a longer message [{with some extended characters}] thrown in, such as £ and"
        " ΩΠΨ and `¿ as well.",
        "septet 0x5F is '§' in the default alphabet; gsmmodem's table has '`'"),
    "mm-udhi-kpn-16bit": KnownWrong(
        "text",
        "elkom, bel om uw Voicemail te beluisteren naar +31612001233 (PrePay: *100*1233#)."
        " Voicemail ontvangen is altijd gratis. Voor gebruik van mobiel interne",
        "a 7-octet UDH ends on a septet boundary (0 fill bits); gsmmodem drops the first character"),
    "synth-gsm7-udh-7octet-fill0": KnownWrong(
        "text", "ill bits = 0 case",
        "a 7-octet UDH ends on a septet boundary (0 fill bits); gsmmodem drops the first character"),
    "gammu-at-sms-39": KnownWrong(
        "text", "llamada perdida de: +34617653167 on 07/08  at  11:19. buzC3e",
        "TP-UDL is authoritative; gsmmodem decodes the octets after the user data as text"),
    "synth-turkish-single-shift": KnownWrong(
        "text", "Ç ve eker:  €",
        "no national language tables: Turkish single shift (IEI 24) characters are lost"),
    "synth-turkish-locking+single": KnownWrong(
        "text", "æìk øüneæ Æeker ¡stanbul",
        "no national language tables: Turkish locking shift (IEI 25) read with the default table"),
    "synth-spanish-single-shift": KnownWrong(
        "text", "Cancin:    €",
        "no national language tables: Spanish single shift (IEI 24) characters are lost"),
    "synth-ucs2-emoji-surrogates": KnownWrong(
        "text", "Привет \ud83d\ude00\ud83d\udc4d\ud83c\udffd!",
        "UTF-16 surrogate pairs left as lone surrogates instead of joined into one character"),
    "synth-ucs2-autodelete-0x48": KnownWrong(
        "text", "è4ΔpC@\r@:@@£¡ù@Æ@d@ò",
        "DCS 0x48 (automatic-deletion group 01xx, UCS2) decoded as GSM 7-bit"),
}


def _gsmmodem_view(pdu: str) -> dict[str, Any]:
    """gsmmodem's decoding in the comparable shape below, or the exception it raised."""
    try:
        r = decodeSmsPdu(pdu)
    except Exception as exc:  # gsmmodem lets any error out: recording which one is the point
        return {"exception": type(exc).__name__}
    view: dict[str, Any] = {
        "type": r["type"], "sender": r.get("number"), "smsc": r.get("smsc"),
        "timestamp": r["time"].isoformat(),
    }
    if r["type"] == "SMS-STATUS-REPORT":
        view.update(mr=r["reference"], status=r["status"], discharge_time=r["discharge"].isoformat())
        return view
    concat = ports = None
    for ie in r.get("udh", []):
        if ie.id in (0x00, 0x08):
            bits = 8 if ie.id == 0x00 else 16
            concat = {"ref": ie.reference, "total": ie.parts, "seq": ie.number, "ref_bits": bits}
        elif ie.id in (0x04, 0x05):
            ports = {"dst": ie.destination, "src": ie.source}
    view.update(text=r.get("text"), concat=concat, ports=ports)
    return view


def _json_view(j: dict[str, Any]) -> dict[str, Any]:
    """A decoding in our JSON shape (ours or a vector's `expected`) in the comparable shape.

    gsmmodem gives 8-bit data as a text of one character per octet: ours is compared likewise.
    """
    view: dict[str, Any] = {
        "type": j["type"], "sender": j["sender"], "smsc": j["smsc"], "timestamp": j["timestamp"],
    }
    if j["type"] == "SMS-STATUS-REPORT":
        view.update(mr=j["mr"], status=int(j["status"], 16), discharge_time=j["discharge_time"])
        return view
    text = j["text"]
    if text is None:
        text = bytes.fromhex(j["data_hex"]).decode("latin-1")
    view.update(text=text, concat=j["concat"], ports=j.get("ports"))
    return view


def test_known_wrong_list_names_real_vectors() -> None:
    assert set(KNOWN_WRONG) <= set(VECTORS_BY_ID)
    assert len(KNOWN_WRONG) == 16


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_gsmmodem_agrees(vector: dict[str, Any]) -> None:
    theirs = _gsmmodem_view(vector["pdu"])
    ours = _json_view(decode_pdu(vector["pdu"]).to_json())
    known = KNOWN_WRONG.get(vector["id"])
    if "exception" in theirs:
        assert known is not None, theirs
        assert known.field == "exception", theirs
        return
    compared = [field for field in ours if known is None or field != known.field]
    assert len(compared) >= 6
    for field in compared:
        assert theirs[field] == ours[field], field


@pytest.mark.parametrize("vector_id", sorted(KNOWN_WRONG), ids=sorted(KNOWN_WRONG))
def test_gsmmodem_known_wrong(vector_id: str) -> None:
    vector = VECTORS_BY_ID[vector_id]
    known = KNOWN_WRONG[vector_id]
    ours = decode_pdu(vector["pdu"]).to_json()
    theirs = _gsmmodem_view(vector["pdu"])
    # Ours is right: it is the vector's expected decoding.
    assert ours == vector["expected"]
    if known.field == "exception":
        assert theirs == {"exception": known.gsmmodem}, f"gsmmodem changed ({known.why})"
        return
    correct = _json_view(vector["expected"])[known.field]
    got = theirs[known.field]
    assert got != correct, f"gsmmodem is now right about {known.field}: drop {vector_id}"
    if known.prefix:
        assert isinstance(got, str)
        assert got.startswith(known.gsmmodem), f"gsmmodem changed: {got!r}"
    else:
        assert got == known.gsmmodem, f"gsmmodem changed: {got!r} ({known.why})"
