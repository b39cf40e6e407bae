"""SMS-SUBMIT encoding: exact octets, multipart splitting, options, and round trips through decoders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from gsmmodem.pdu import decodeSmsPdu
from hypothesis import given, settings
from hypothesis import strategies as st

from simhost_drivers.pdu import PduError, decode_pdu, encode_submit, join_text

RECIPIENT = "+79161234567"
DA_HEX = "0B919761214365F7"
CYRILLIC = "Съешь же ещё этих мягких французских булок, да выпей чаю. "


def _roundtrip(recipient: str, text: str, **options: object) -> str | None:
    parts = encode_submit(recipient, text, **options)  # type: ignore[arg-type]
    decoded = [decode_pdu(p.pdu) for p in parts]
    for d in decoded:
        assert d.type == "SMS-SUBMIT"
        assert d.address.number == recipient
        assert not d.truncated
    return join_text(decoded)


def test_single_gsm7_exact_octets() -> None:
    [part] = encode_submit(RECIPIENT, "hello")
    assert part.hex == "00" "01" "00" + DA_HEX + "00" "00" "05" "E8329BFD06"
    assert part.tpdu_length == len(part.pdu) - 1


def test_single_ucs2_exact_octets() -> None:
    [part] = encode_submit("12345", "Жё")
    assert part.hex == "00" "01" "00" "05812143F5" "00" "08" "04" "04160451"


def test_options() -> None:
    [part] = encode_submit(RECIPIENT, "hi", smsc="+79168999100", mr=7, request_status_report=True,
                           validity=timedelta(days=4), flash=True)
    assert part.hex.startswith("07919761989901F0" + "31" "07" + DA_HEX + "00" "10" "AA" "02")
    assert part.tpdu_length == len(part.pdu) - 8
    got = decode_pdu(part.pdu).to_json()
    assert got["validity"] == {"format": "relative", "seconds": 4 * 86400}
    assert got["status_report_requested"] is True
    assert (got["dcs"]["class"], got["smsc"], got["mr"]) == (0, "+79168999100", 7)


@pytest.mark.parametrize(("wanted", "octet"), [
    (timedelta(minutes=1), 0x00), (timedelta(hours=1), 0x0B), (timedelta(hours=13), 0x91),
    (timedelta(days=3), 0xA9), (timedelta(weeks=10), 0xCA), (timedelta(weeks=100), 0xFF),
])
def test_validity_rounds_up_to_a_representable_period(wanted: timedelta, octet: int) -> None:
    [part] = encode_submit(RECIPIENT, "x", validity=wanted)
    assert part.pdu[1 + 1 + 1 + len(bytes.fromhex(DA_HEX)) + 2] == octet


def test_gsm7_multipart_boundaries() -> None:
    assert len(encode_submit(RECIPIENT, "a" * 160)) == 1
    parts = encode_submit(RECIPIENT, "a" * 161, concat_ref=0x99)
    assert len(parts) == 2
    decoded = [decode_pdu(p.pdu) for p in parts]
    assert [d.text for d in decoded] == ["a" * 153, "a" * 8]
    assert [d.to_json()["concat"] for d in decoded] == [
        {"ref": 0x99, "total": 2, "seq": 1, "ref_bits": 8},
        {"ref": 0x99, "total": 2, "seq": 2, "ref_bits": 8},
    ]
    assert all(len(p.pdu) - 1 <= 140 + 12 + 1 for p in parts)


def test_gsm7_escape_pair_is_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10
    decoded = [decode_pdu(p.pdu) for p in encode_submit(RECIPIENT, text)]
    assert [d.text for d in decoded] == ["a" * 152, "€" + "b" * 10]


def test_ucs2_multipart_keeps_surrogate_pairs_whole() -> None:
    text = "Я" * 66 + "😀" + "Я" * 10
    parts = encode_submit(RECIPIENT, text)
    decoded = [decode_pdu(p.pdu) for p in parts]
    assert [d.text for d in decoded] == ["Я" * 66, "😀" + "Я" * 10]
    assert all("ucs2_hex" not in d.to_json() for d in decoded)
    assert len(encode_submit(RECIPIENT, "Я" * 70)) == 1
    assert [len(d.text or "") for d in map(decode_pdu, (p.pdu for p in encode_submit(
        RECIPIENT, "Я" * 71)))] == [67, 4]


def test_encoding_choice() -> None:
    assert decode_pdu(encode_submit(RECIPIENT, "plain {text}")[0].pdu).to_json()["dcs"]["raw"] == "00"
    assert decode_pdu(encode_submit(RECIPIENT, "Привет")[0].pdu).to_json()["dcs"]["raw"] == "08"
    forced = encode_submit(RECIPIENT, "plain", encoding="ucs2")[0]
    assert decode_pdu(forced.pdu).text == "plain"
    with pytest.raises(PduError, match=r"character 'П' \(U\+041F\) has no GSM 7-bit code"):
        encode_submit(RECIPIENT, "Привет", encoding="gsm7")


@pytest.mark.parametrize("recipient", ["", "+", "abc", "1" * 21, "+7 916 x"])
def test_bad_recipients(recipient: str) -> None:
    with pytest.raises(PduError, match="is not a phone number"):
        encode_submit(recipient, "hi")


def test_recipient_with_star_hash_and_spaces() -> None:
    [part] = encode_submit("*100 #", "hi")
    assert decode_pdu(part.pdu).address.number == "*100#"


def test_bad_numbers_and_too_long_text() -> None:
    with pytest.raises(PduError, match=r"TP-MR: message reference 256 is not 0\.\.255"):
        encode_submit(RECIPIENT, "hi", mr=256)
    with pytest.raises(PduError, match=r"concatenation reference -1 is not 0\.\.255"):
        encode_submit(RECIPIENT, "hi", concat_ref=-1)
    with pytest.raises(PduError, match="text needs 256 parts"):
        encode_submit(RECIPIENT, "a" * (153 * 256))


@pytest.mark.parametrize("text", [
    "hello", "a" * 161, "Ünïcödé @£$¥ and [brackets] {braces} ~ | ^ €", CYRILLIC * 3, "",
], ids=["short", "two-parts", "extension", "ucs2-multipart", "empty"])
def test_gsmmodem_reads_our_submits(text: str) -> None:
    parts = encode_submit(RECIPIENT, text, concat_ref=3)
    texts = []
    for part in parts:
        theirs = decodeSmsPdu(part.hex)
        assert theirs["type"] == "SMS-SUBMIT"
        assert theirs["number"] == RECIPIENT
        texts.append(theirs["text"])
    assert "".join(texts) == text


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=500), international=st.booleans(),
       digits=st.text(alphabet="0123456789*#", min_size=1, max_size=20))
def test_any_text_round_trips(text: str, international: bool, digits: str) -> None:
    recipient = ("+" if international else "") + digits
    assert (_roundtrip(recipient, text) or "") == text


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?"
                                              "¡AZÄÖÑÜ§¿azäöñüà\n\r^{}\\[~]|€\f"), max_size=400))
def test_gsm7_alphabet_round_trips(text: str) -> None:
    parts = encode_submit(RECIPIENT, text)
    assert all(decode_pdu(p.pdu).to_json()["dcs"]["alphabet"] == "gsm7" for p in parts)
    assert (join_text([decode_pdu(p.pdu) for p in parts]) or "") == text
