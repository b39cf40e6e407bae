"""USSD on the virtual bank: each family's request and answer encodings, per-SIM replies and delays, the faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwsim.cli import main
from hwsim.ussd import UssdService, pack_gsm7, reply_line, unpack_gsm7
from tests.hwsim.hwsimlib import AtPort, bank_port, ok

CYRILLIC = "Баланс: 123,45 р."
PLAIN_PROFILES = ("generic", "sim800", "ec25")
STAR_100 = "AA180C3602"  # *100# packed, as the hsmr.cc E173 page and gammu's dumps give it


def cusd(at: AtPort) -> str:
    return at.wait_line(r"^\+CUSD:")


def test_packing_is_the_one_networks_and_huawei_use() -> None:
    assert pack_gsm7("*100#").hex().upper() == STAR_100
    assert unpack_gsm7(bytes.fromhex(STAR_100)) == "*100#"
    # seven characters leave 7 spare bits: a CR fills them, never read back as '@' (TS 23.038 §6.1.2.3.1)
    assert len(pack_gsm7("*101*4#")) == 7
    assert unpack_gsm7(pack_gsm7("*101*4#")) == "*101*4#"
    assert unpack_gsm7(pack_gsm7("Balance: 100.00 RUB")) == "Balance: 100.00 RUB"


def test_reply_lines_by_family_and_alphabet() -> None:
    latin = UssdService("Balance 5.00")
    assert reply_line(0, latin, packed=False) == '+CUSD: 0,"Balance 5.00",15'
    assert reply_line(0, latin, packed=True) == f'+CUSD: 0,"{pack_gsm7("Balance 5.00").hex().upper()}",15'
    ucs2 = CYRILLIC.encode("utf-16-be").hex().upper()
    assert ucs2.startswith("0411043004")
    for packed in (False, True):
        assert reply_line(0, UssdService(CYRILLIC), packed) == f'+CUSD: 0,"{ucs2}",72'
    forced = UssdService("Hi", encoding="ucs2")
    assert reply_line(0, forced, packed=False) == '+CUSD: 0,"00480069",72'
    with pytest.raises(ValueError, match="GSM 7-bit"):
        UssdService(CYRILLIC, encoding="gsm7")


@pytest.mark.parametrize("profile", PLAIN_PROFILES)
def test_plain_families_take_text_and_answer_text_or_ucs2_hex(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile) as (bank, at):
        modem = bank.ports[0]
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert cusd(at) == '+CUSD: 0,"Balance: 100.00 RUB",15'
        modem.ussd(CYRILLIC, code="*100#")
        modem.ussd("Your number is +79001234567", code="*111#")
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert cusd(at) == f'+CUSD: 0,"{CYRILLIC.encode("utf-16-be").hex().upper()}",72'
        ok(at.cmd('AT+CUSD=1,"*111#"'))
        assert cusd(at) == '+CUSD: 0,"Your number is +79001234567",15'
        requests = modem.state()["ussd"]["requests"]
        assert [(r["code"], r["raw"], r["dcs"]) for r in requests] == [
            ("*100#", "*100#", 15), ("*100#", "*100#", 15), ("*111#", "*111#", 15)]


def test_huawei_takes_and_gives_packed_hex(tmp_path: Path) -> None:
    with bank_port(tmp_path, "e173") as (bank, at):
        modem = bank.ports[0]
        assert at.cmd('AT+CUSD=1,"*100#",15') == ["ERROR"]  # not hex: an E173 cannot send it
        ok(at.cmd(f'AT+CUSD=1,"{STAR_100}",15'))
        line = cusd(at)
        assert line == f'+CUSD: 0,"{pack_gsm7("Balance: 100.00 RUB").hex().upper()}",15'
        modem.ussd(CYRILLIC)
        ok(at.cmd(f'AT+CUSD=1,"{STAR_100}",15'))
        assert cusd(at) == f'+CUSD: 0,"{CYRILLIC.encode("utf-16-be").hex().upper()}",72'
        assert [r["code"] for r in modem.state()["ussd"]["requests"]] == ["*100#", "*100#"]


def test_replies_and_delays_are_per_sim(tmp_path: Path) -> None:
    with bank_port(tmp_path, "generic", slots=2) as (bank, at):
        modem = bank.ports[0]
        modem.ussd("Slot two: 7.00", slot=2)
        modem.ussd("Slot one: 1.00", delay_s=0.0)
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert cusd(at) == '+CUSD: 0,"Slot one: 1.00",15'
        modem.slot(2)
        assert modem.wait_until(lambda m: m.state()["active_slot"] == 2 and m.state()["registration"] == 1, 5)
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert cusd(at) == '+CUSD: 0,"Slot two: 7.00",15'


def test_one_session_at_a_time_until_cancelled(tmp_path: Path) -> None:
    with bank_port(tmp_path, "sim800") as (bank, at):
        modem = bank.ports[0]
        ok(at.cmd("AT+CMEE=1"))
        modem.fault("ussd", "no-answer")
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert modem.state()["ussd"]["open"] is True
        assert at.cmd('AT+CUSD=1,"*100#",15') == ["+CME ERROR: 3"]
        ok(at.cmd("AT+CUSD=2"))
        assert modem.state()["ussd"]["open"] is False
        modem.fault("clear")
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert cusd(at) == '+CUSD: 0,"Balance: 100.00 RUB",15'
        assert not any(line.startswith("+CUSD") for line in at.seen[:-1])


@pytest.mark.parametrize(("how", "expected"), [("cancel", "+CUSD: 2"), ("unsupported", "+CUSD: 4")])
def test_network_ends_or_refuses_the_session(tmp_path: Path, how: str, expected: str) -> None:
    with bank_port(tmp_path, "ec25") as (bank, at):
        bank.ports[0].fault("ussd", how)
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert cusd(at) == expected
        ok(at.cmd('AT+CUSD=1,"*100#",15'))  # the session is over: a new request is taken
        assert cusd(at) == expected


def test_error_fault_and_no_network(tmp_path: Path) -> None:
    with bank_port(tmp_path, "generic") as (bank, at):
        modem = bank.ports[0]
        ok(at.cmd("AT+CMEE=1"))
        modem.fault("ussd", "error")
        assert at.cmd('AT+CUSD=1,"*100#",15') == ["+CME ERROR: 100"]
        modem.fault("clear")
        modem.fault("no-network")
        assert at.cmd('AT+CUSD=1,"*100#",15') == ["+CME ERROR: 30"]


def test_a_code_the_network_cannot_read_ends_the_session(tmp_path: Path) -> None:
    with bank_port(tmp_path, "generic") as (_bank, at):
        ok(at.cmd('AT+CUSD=1,"*100#@",15'))
        assert cusd(at) == "+CUSD: 2"


def test_cli_sets_a_reply_and_rejects_bad_input(tmp_path: Path) -> None:
    with bank_port(tmp_path, "generic") as (bank, at):
        runner = CliRunner()
        d = str(bank.directory)
        result = runner.invoke(main, ["--dir", d, "ussd", "port01", CYRILLIC, "--code", "*100#", "--delay", "0"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {"*100#": {"reply": CYRILLIC, "delay_s": 0.0, "encoding": "auto"}}
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert cusd(at).endswith(",72")
        bad = runner.invoke(main, ["--dir", d, "ussd", "port01", "x", "--code", "*100#;D123"])
        assert bad.exit_code == 1
        assert "digits, '*', '#' and '+' only" in bad.output
        fault = runner.invoke(main, ["--dir", d, "fault", "port01", "ussd", "sometimes"])
        assert fault.exit_code == 1
        assert "ussd needs one of no-answer, cancel, error, unsupported" in fault.output
