"""Decoder behaviour beyond the vectors: every DCS group, addresses, UDH elements, tables, errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from simhost_drivers.pdu import PduError, decode_dcs, decode_pdu, decode_timestamp
from tests.pdu.pdulib import OA_HEX, SCTS_HEX, SCTS_ISO, SMSC_HEX, deliver_hex, pack7

HELLO = [ord(c) for c in "hello"]


def _ascii7(text: str) -> list[int]:
    # GSM 7-bit codes equal ASCII for letters, digits, space and the punctuation used here.
    assert all(c.isalnum() or c in " .,:" for c in text)
    return [ord(c) for c in text]


# (raw, alphabet, group, class, extra keys of the dcs JSON)
DCS_CASES: list[tuple[int, str, str, int | None, dict[str, Any]]] = [
    (0x00, "gsm7", "general", None, {}),
    (0x04, "8bit", "general", None, {}),
    (0x08, "ucs2", "general", None, {}),
    (0x0C, "gsm7", "general", None, {}),  # reserved alphabet 11: read as GSM 7-bit
    (0x10, "gsm7", "general", 0, {}),
    (0x11, "gsm7", "general", 1, {}),
    (0x16, "8bit", "general", 2, {}),
    (0x1B, "ucs2", "general", 3, {}),
    (0x03, "gsm7", "general", None, {}),  # class bits without bit 4 mean nothing
    (0x20, "gsm7", "general", None, {"compressed": True}),
    (0x3A, "ucs2", "general", 2, {"compressed": True}),
    (0x40, "gsm7", "auto-delete", None, {}),
    (0x48, "ucs2", "auto-delete", None, {}),
    (0x55, "8bit", "auto-delete", 1, {}),
    (0x60, "gsm7", "auto-delete", None, {"compressed": True}),
    (0x80, "gsm7", "reserved", None, {}),
    (0xB7, "gsm7", "reserved", None, {}),
    (0xC0, "gsm7", "mwi-discard", None, {"mwi": {"active": False, "type": "voicemail"}}),
    (0xC9, "gsm7", "mwi-discard", None, {"mwi": {"active": True, "type": "fax"}}),
    (0xD2, "gsm7", "mwi-store", None, {"mwi": {"active": False, "type": "email"}}),
    (0xDB, "gsm7", "mwi-store", None, {"mwi": {"active": True, "type": "other"}}),
    (0xE8, "ucs2", "mwi-store", None, {"mwi": {"active": True, "type": "voicemail"}}),
    (0xE1, "ucs2", "mwi-store", None, {"mwi": {"active": False, "type": "fax"}}),
    (0xF0, "gsm7", "data-coding/class", 0, {}),
    (0xF6, "8bit", "data-coding/class", 2, {}),
    (0xF7, "8bit", "data-coding/class", 3, {}),
    (0xFB, "gsm7", "data-coding/class", 3, {}),  # bit 3 reserved
]


@pytest.mark.parametrize(("raw", "alphabet", "group", "klass", "extra"), DCS_CASES,
                         ids=[f"{c[0]:02X}" for c in DCS_CASES])
def test_dcs(raw: int, alphabet: str, group: str, klass: int | None, extra: dict[str, Any]) -> None:
    expected = {"raw": f"{raw:02X}", "alphabet": alphabet, "class": klass, "group": group, **extra}
    assert decode_dcs(raw).to_json() == expected


def test_every_dcs_value_decodes_a_message() -> None:
    for raw in range(256):
        dcs = decode_dcs(raw)
        ud = "00410042" if dcs.alphabet == "ucs2" else pack7([0x41, 0x42])
        udl = 4 if dcs.alphabet == "ucs2" else 2
        if dcs.alphabet == "8bit":
            ud, udl = "4142", 2
        got = decode_pdu(deliver_hex(ud, udl, dcs=raw)).to_json()
        if dcs.compressed or dcs.alphabet == "8bit":
            assert got["text"] is None, f"{raw:02X}"
            assert got["data_hex"], f"{raw:02X}"
        else:
            assert got["text"] == "AB", f"{raw:02X}"


def test_ucs2_message_waiting_text() -> None:
    got = decode_pdu(deliver_hex("04110430043B", 6, dcs=0xE8)).to_json()
    assert got["text"] == "Бал"
    assert got["dcs"]["mwi"] == {"active": True, "type": "voicemail"}


def test_compressed_text_is_kept_as_data() -> None:
    got = decode_pdu(deliver_hex("0102030405", 5, dcs=0x20)).to_json()
    assert got["text"] is None
    assert got["data_hex"] == "0102030405"


@pytest.mark.parametrize(("oa_hex", "sender", "sender_type"), [
    ("0581" "2AB1F4", "*21#4", "unknown"),
    ("0691" "DCFE21", "+abc12", "international"),
    ("04A1" "2143", "1234", "national"),
    ("04B1" "2143", "1234", "network"),
    ("04C8" "2143", "1234", "subscriber"),
    ("04E1" "2143", "1234", "abbreviated"),
    ("04F1" "2143", "1234", "reserved"),
    ("0581" "21F3F5", "1235", "unknown"),  # a filler semi-octet inside the counted digits
    ("0091", "", "international"),  # empty address
], ids=["star-hash", "abc-digits", "national", "network", "subscriber", "abbreviated", "reserved",
        "inner-filler", "empty"])
def test_addresses(oa_hex: str, sender: str, sender_type: str) -> None:
    got = decode_pdu(deliver_hex(pack7(HELLO), 5, oa_hex=oa_hex)).to_json()
    assert (got["sender"], got["sender_type"], got["sender_toa"]) == (sender, sender_type, oa_hex[2:4])
    assert got["text"] == "hello"


def test_alphanumeric_sender_with_extension_character() -> None:
    # "A{B": A, ESC, 0x28, B = 4 septets = 28 bits = 7 semi-octets.
    body = pack7([0x41, 0x1B, 0x28, 0x42])
    got = decode_pdu(deliver_hex(pack7(HELLO), 5, oa_hex="07D0" + body)).to_json()
    assert got["sender"] == "A{B"
    assert got["sender_type"] == "alphanumeric"


def test_no_smsc_field() -> None:
    pdu = deliver_hex(pack7(HELLO), 5, smsc_hex="")
    got = decode_pdu(pdu, smsc_included=False).to_json()
    assert (got["smsc"], got["text"], got["sender"]) == (None, "hello", "+79161234567")


def test_zero_length_smsc_field() -> None:
    assert decode_pdu(deliver_hex(pack7(HELLO), 5, smsc_hex="00")).to_json()["smsc"] is None


@pytest.mark.parametrize(("scts_hex", "iso"), [
    ("42305101030021", "2024-03-15T10:30:00+03:00"),
    ("42102030405048", "2024-01-02T03:04:05-01:00"),  # 0x48: sign bit, 4 quarter hours
    ("99211332959508", "1999-12-31T23:59:59+00:00"),  # negative zero
    ("0010100000009F", "2000-01-01T00:00:00-19:45"),  # the largest offset two digits give
    ("98212132959523", "2089-12-12T23:59:59+08:00"),
    ("09101000000000", "1990-01-01T00:00:00+00:00"),
], ids=["msk", "minus-one", "negative-zero-1999", "minus-19h45", "year-89", "year-90"])
def test_timestamps(scts_hex: str, iso: str) -> None:
    got = decode_pdu(deliver_hex(pack7(HELLO), 5, scts_hex=scts_hex)).to_json()
    assert got["timestamp"] == iso


def test_decode_timestamp_directly() -> None:
    when = decode_timestamp(bytes.fromhex(SCTS_HEX))
    assert when == datetime(2024, 3, 15, 10, 30, tzinfo=timezone(timedelta(hours=3)))


@pytest.mark.parametrize(("scts_hex", "message"), [
    ("42315101030021", "241315103000 is not a valid date and time"),
    ("4230A101030021", "octet 3 (A1) is not two decimal digits"),
    ("423051010300A0", "time zone octet A0 is not decimal"),
])
def test_bad_timestamps(scts_hex: str, message: str) -> None:
    with pytest.raises(PduError) as err:
        decode_pdu(deliver_hex(pack7(HELLO), 5, scts_hex=scts_hex))
    assert str(err.value) == f"TP-SCTS at offset 19: {message}"
    assert (err.value.field, err.value.offset) == ("TP-SCTS", 19)


def test_user_data_past_udl_is_ignored() -> None:
    got = decode_pdu(deliver_hex(pack7(HELLO) + "DEADBEEF", 3)).to_json()
    assert got["text"] == "hel"
    assert "truncated" not in got


def test_gsm7_udl_past_the_data_is_truncated_with_header() -> None:
    header = "050003070201"  # 6 octets: 7 septets, 1 fill bit
    text = _ascii7("abcdefghij")
    ud = header + pack7(text, fill_bits=1)
    # Claim 20 text septets, give 10: the decoder keeps the 10 complete ones.
    got = decode_pdu(deliver_hex(ud, 7 + 20, udhi=True)).to_json()
    assert got["truncated"] is True
    assert got["text"] == "abcdefghij"
    assert got["concat"] == {"ref": 7, "total": 2, "seq": 1, "ref_bits": 8}


def test_8bit_udl_past_the_data_is_truncated() -> None:
    got = decode_pdu(deliver_hex("0102", 5, dcs=0x04)).to_json()
    assert (got["data_hex"], got["truncated"]) == ("0102", True)


def test_udl_zero() -> None:
    got = decode_pdu(deliver_hex("", 0)).to_json()
    assert got["text"] == ""
    assert "truncated" not in got


def test_ucs2_odd_length_marks_the_dangling_octet() -> None:
    got = decode_pdu(deliver_hex("004100420043", 5, dcs=0x08)).to_json()
    assert got["text"] == "AB\ufffd"
    assert "truncated" not in got


@pytest.mark.parametrize(("ud_hex", "udl", "message"), [
    ("", 0, "TP-UD at offset 27: TP-UDHI is set but there is no user data header"),
    ("05000301", 4, "TP-UDH at offset 27: header length 5 exceeds TP-UDL 4"),
    ("0500030102", 9, "TP-UDH at offset 27: header length 5 runs past the end of the PDU"),
    ("0400030102", 5, "TP-UDH at offset 28: information element 00 of 3 octets overruns the header"),
    ("03000070", 4, "TP-UDH at offset 30: information element cut off by the header length"),
    ("0100", 1, "TP-UDH at offset 27: header length 1 exceeds TP-UDL 1"),
], ids=["no-header", "udhl-over-udl", "udhl-past-end", "ie-overrun", "ie-cut", "udhl-over-udl-2"])
def test_bad_headers_8bit(ud_hex: str, udl: int, message: str) -> None:
    with pytest.raises(PduError) as err:
        decode_pdu(deliver_hex(ud_hex, udl, dcs=0x04, udhi=True))
    assert str(err.value) == message


def test_gsm7_udl_shorter_than_its_header() -> None:
    # A 6-octet header spans 7 septets. TP-UDL 5 septets covers 5 octets: not even the header.
    with pytest.raises(PduError, match="TP-UDH at offset 27: header length 5 exceeds TP-UDL 5"):
        decode_pdu(deliver_hex("050003010201" + "00", 5, udhi=True))
    # TP-UDL 6 septets covers 6 octets, but the header's last bits reach into the 7th septet.
    with pytest.raises(PduError, match="TP-UDL at offset 26: TP-UDL 6 septets is shorter"):
        decode_pdu(deliver_hex("050003010201" + "00", 6, udhi=True))


def test_8bit_ports_and_unknown_elements() -> None:
    # IE 0x70 (unknown to us), IE 04 (8-bit ports 0x10 -> 0x20), then payload.
    ud = "07" "7001AA" "04021020" + "CAFE"
    got = decode_pdu(deliver_hex(ud, 10, dcs=0xF5, udhi=True))
    assert got.to_json()["ports"] == {"dst": 0x10, "src": 0x20}
    assert got.ports is not None
    assert got.ports.bits == 8
    assert [(ie.iei, ie.data) for ie in got.udh] == [(0x70, b"\xaa"), (0x04, b"\x10\x20")]
    assert got.to_json()["data_hex"] == "CAFE"


@pytest.mark.parametrize(("header", "concat"), [
    ("050003010300", None),  # sequence number 0: the element is ignored
    ("050003010304", None),  # sequence number past the count
    ("050003010000", None),  # zero parts
    ("0400020102", None),  # wrong length for IEI 00
    ("0A" "0003010201" "0003090302", {"ref": 9, "total": 3, "seq": 2, "ref_bits": 8}),  # last wins
], ids=["seq-zero", "seq-past-total", "total-zero", "bad-length", "repeated"])
def test_concatenation_edge_cases(header: str, concat: dict[str, int] | None) -> None:
    got = decode_pdu(deliver_hex(header + "41", len(header) // 2 + 1, dcs=0x04, udhi=True))
    assert got.to_json()["concat"] == concat
    assert got.udh


def test_several_special_indications() -> None:
    # Voice (store, 3 waiting) then a video indication (extended type 1), profile 2.
    header = "08" "01028303" "01024401"
    got = decode_pdu(deliver_hex(header, 9, dcs=0x04, udhi=True)).to_json()
    assert got["special_indication"] == {"store": True, "type": 3, "count": 3}
    assert got["special_indications"] == [
        {"store": True, "type": 3, "count": 3},
        {"store": False, "type": 0, "count": 1, "extended_type": 1, "profile": 2},
    ]


def _national(header: str, septets: list[int]) -> dict[str, Any]:
    octets = len(header) // 2
    header_septets = (octets * 8 + 6) // 7
    fill = header_septets * 7 - octets * 8
    ud = header + pack7(septets, fill_bits=fill)
    return decode_pdu(deliver_hex(ud, header_septets + len(septets), udhi=True)).to_json()


def test_portuguese_locking_and_single_shift() -> None:
    # S, ã (locking 0x7B), o, space, ê (locking 0x04), Ã (single shift 0x5B), Â (0x61), € (0x65)
    septets = [0x53, 0x7B, 0x6F, 0x20, 0x04, 0x1B, 0x5B, 0x1B, 0x61, 0x1B, 0x65]
    got = _national("06" "250103" "240103", septets)
    assert got["text"] == "São êÃÂ€"
    assert got["national_language"] == {"locking_shift": 3, "single_shift": 3}


def test_turkish_locking_without_single_shift() -> None:
    # ı (0x07), Ğ (0x0B), ş (0x1D), İ (0x40), ç (0x60), € (0x04); ESC 0x65 from the default table.
    got = _national("03" "250101", [0x07, 0x0B, 0x1D, 0x40, 0x60, 0x04, 0x1B, 0x65])
    assert got["text"] == "ıĞşİç€€"
    assert got["national_language"] == {"locking_shift": 1}


def test_unsupported_language_falls_back_to_the_default_table() -> None:
    got = _national("03" "25010E", _ascii7("abc"))  # identifier 14: reserved in TS 23.038
    assert got["text"] == "abc"
    assert got["national_language"] == {"locking_shift": 14, "unsupported": True}


def test_spanish_has_no_locking_table() -> None:
    got = _national("06" "250102" "240102", [0x41, 0x1B, 0x49])
    assert got["text"] == "AÍ"
    assert got["national_language"] == {"locking_shift": 2, "single_shift": 2, "unsupported": True}


@pytest.mark.parametrize(("septets", "text"), [
    ([0x41, 0x1B, 0x41, 0x42], "AAB"),  # no extension character: the main table's one
    ([0x41, 0x1B, 0x1B, 0x42], "A B"),  # ESC ESC: a space
    ([0x41, 0x1B], "A "),  # a lone trailing ESC: a space
    ([0x1B, 0x0A, 0x1B, 0x0D], "\f\r"),  # form feed; CR2 falls back to CR
], ids=["undefined", "esc-esc", "trailing-esc", "controls"])
def test_escape_edge_cases(septets: list[int], text: str) -> None:
    got = decode_pdu(deliver_hex(pack7(septets), len(septets))).to_json()
    assert got["text"] == text


def test_status_report_with_all_optional_fields() -> None:
    tpdu = "06" "27" "0B913426565711F7" "01208111134540" "01208111740540" "00"
    pdu = SMSC_HEX + tpdu + "07" "7F" "00" "05" + pack7(HELLO)
    got = decode_pdu(pdu).to_json()
    assert (got["pi"], got["pid"], got["text"], got["dcs"]["raw"]) == ("07", "7F", "hello", "00")
    assert (got["recipient"], got["mr"], got["status"]) == ("+43626575117", 0x27, "00")


def test_status_report_pi_extension_and_header() -> None:
    tpdu = "46" "27" "0B913426565711F7" "01208111134540" "01208111740540" "41"
    # TP-PI 0x84 (UDL, extended), a second TP-PI octet, then UDL and a UDH with 8-bit concat.
    pdu = SMSC_HEX + tpdu + "84" "00" "0C" + "050003050201" + pack7([0x4F, 0x4B], fill_bits=1)
    got = decode_pdu(pdu).to_json()
    assert (got["pi"], got["dcs"]) == ("84", None)
    assert "pid" not in got
    assert got["text"] == "OK"
    assert got["concat"] == {"ref": 5, "total": 2, "seq": 1, "ref_bits": 8}
    assert got["status"] == "41"


def test_status_report_pi_announcing_missing_fields() -> None:
    tpdu = "06" "27" "0B913426565711F7" "01208111134540" "01208111740540" "00"
    with pytest.raises(PduError, match="TP-DCS at offset 34: the PDU ends before this field"):
        decode_pdu(SMSC_HEX + tpdu + "02")


@pytest.mark.parametrize(("first", "vp", "validity"), [
    ("11", "AA", {"format": "relative", "seconds": 4 * 86400}),
    ("11", "00", {"format": "relative", "seconds": 300}),
    ("11", "8F", {"format": "relative", "seconds": 12 * 3600}),
    ("11", "A7", {"format": "relative", "seconds": 24 * 3600}),
    ("11", "FF", {"format": "relative", "seconds": 63 * 7 * 86400}),
    ("19", SCTS_HEX, {"format": "absolute", "time": SCTS_ISO}),
    ("09", "01020000000000", {"format": "enhanced", "raw": "01020000000000"}),
    ("01", "", None),
], ids=["4-days", "5-min", "12-h", "24-h", "63-weeks", "absolute", "enhanced", "none"])
def test_submit(first: str, vp: str, validity: dict[str, Any] | None) -> None:
    pdu = "00" + first + "2A" + OA_HEX + "00" "00" + vp + "05" + pack7(HELLO)
    got = decode_pdu(pdu).to_json()
    assert got == {
        "type": "SMS-SUBMIT", "recipient": "+79161234567", "recipient_type": "international",
        "recipient_toa": "91", "text": "hello", "mr": 0x2A, "validity": validity,
        "status_report_requested": False, "concat": None,
        "dcs": {"raw": "00", "alphabet": "gsm7", "class": None, "group": "general"},
        "pid": "00", "smsc": None,
    }


def test_first_octet_flags() -> None:
    deliver = decode_pdu(SMSC_HEX + "A0" + deliver_hex(pack7(HELLO), 5)[len(SMSC_HEX) + 2:])
    assert (deliver.reply_path, deliver.status_report_requested, deliver.more_messages_to_send) == (
        True, True, True)
    quiet = decode_pdu(deliver_hex(pack7(HELLO), 5))
    assert (quiet.reply_path, quiet.status_report_requested) == (False, False)
    assert not quiet.more_messages_to_send


@pytest.mark.parametrize(("pdu", "message"), [
    ("", "empty PDU"),
    ("   ", "empty PDU"),
    ("079", "hex PDU has an odd number of digits (3)"),
    ("07ZZ", "PDU is not hexadecimal text"),
    ("0791", "SMSC address at offset 1: needs 7 octets, only 1 left"),
    (SMSC_HEX, "first octet at offset 8: the PDU ends before this field"),
    (SMSC_HEX + "03", "first octet at offset 8: TP-MTI 3 is reserved (first octet 03)"),
    (SMSC_HEX + "04" + "0B9197612143", "TP-OA at offset 11: needs 6 octets, only 4 left"),
    (SMSC_HEX + "04" + OA_HEX, "TP-PID at offset 17: the PDU ends before this field"),
    (SMSC_HEX + "04" + OA_HEX + "0000" + "4230", "TP-SCTS at offset 19: needs 7 octets, only 2 left"),
    (SMSC_HEX + "04" + OA_HEX + "0000" + SCTS_HEX, "TP-UDL at offset 26: the PDU ends before this field"),
    (SMSC_HEX + "06" + "27", "TP-RA at offset 10: the PDU ends before this field"),
    ("00" "11" "00" + OA_HEX + "0000", "TP-VP at offset 13: the PDU ends before this field"),
], ids=["empty", "blank", "odd", "not-hex", "smsc", "first", "mti3", "oa", "pid", "scts", "udl",
        "ra", "vp"])
def test_errors_name_the_field_and_offset(pdu: str, message: str) -> None:
    with pytest.raises(PduError) as err:
        decode_pdu(pdu)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_wrong_input_type_is_a_pdu_error() -> None:
    with pytest.raises(PduError, match="PDU must be hex text or bytes, not int"):
        decode_pdu(12345)  # type: ignore[arg-type]


def test_pdu_error_is_a_value_error() -> None:
    assert issubclass(PduError, ValueError)
