"""`simhost pdu decode`: JSON on stdout, one-line errors, exit codes 0/1/2."""

from __future__ import annotations

import json

from click.testing import CliRunner

from simhost.commands.pdu import pdu
from tests.pdu.pdulib import VECTORS_BY_ID

EMOJI = VECTORS_BY_ID["synth-ucs2-emoji-surrogates"]


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(pdu, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_decode_prints_the_decoding_as_json() -> None:
    code, out, err = _run("decode", EMOJI["pdu"])
    assert (code, err) == (0, "")
    assert json.loads(out) == EMOJI["expected"]
    assert "Привет 😀👍🏽!" in out  # not \u-escaped
    assert out.startswith('{\n  "type": "SMS-DELIVER",')


def test_decode_without_smsc() -> None:
    raw = bytes.fromhex(EMOJI["pdu"])
    code, out, _ = _run("decode", "--no-smsc", raw[1 + raw[0]:].hex())
    assert code == 0
    assert json.loads(out) == {**EMOJI["expected"], "smsc": None}


def test_decode_accepts_spaced_lower_case_hex() -> None:
    spaced = " ".join(EMOJI["pdu"][i:i + 2].lower() for i in range(0, len(EMOJI["pdu"]), 2))
    code, out, _ = _run("decode", spaced)
    assert code == 0
    assert json.loads(out) == EMOJI["expected"]


def test_malformed_pdu_is_a_one_line_error_with_exit_1() -> None:
    code, out, err = _run("decode", "0791976198")
    assert (code, out) == (1, "")
    assert err == "Error: malformed PDU: SMSC address at offset 1: needs 7 octets, only 4 left\n"


def test_reserved_message_type_is_exit_1() -> None:
    code, _, err = _run("decode", "0003")
    assert code == 1
    assert err.splitlines() == ["Error: malformed PDU: first octet at offset 1: TP-MTI 3 is reserved "
                                "(first octet 03)"]


def test_invalid_hex_is_a_bad_parameter_with_exit_2() -> None:
    for bad in ("07ZZ", "079", "  "):
        code, out, err = _run("decode", bad)
        assert (code, out) == (2, "")
        assert "Invalid value for 'HEX'" in err
        assert "Traceback" not in err


def test_help() -> None:
    code, out, _ = _run("decode", "--help")
    assert code == 0
    assert "--no-smsc" in out
    assert "HEX" in out
    code, out, _ = _run("--help")
    assert code == 0
    assert "decode" in out
