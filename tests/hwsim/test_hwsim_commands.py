"""The AT interpreter: command-line parsing, V.250 basics, identity, network and settings commands over a pty."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwsim.identity import luhn_valid
from hwsim.modem import Cmd, PlainError, split_command_line
from tests.hwsim.hwsimlib import AtPort, bank_port, ok


def test_split_basic_and_extended_commands() -> None:
    cmds = split_command_line('E0V1&FQ0+CMEE=1;+CLIP=1;+CPMS="SM","SM";+CNMI=?;+CPIN?')
    assert [(c.name, c.kind, c.arg) for c in cmds] == [
        ("E", "set", "0"), ("V", "set", "1"), ("&F", "exec", ""), ("Q", "set", "0"),
        ("+CMEE", "set", "1"), ("+CLIP", "set", "1"), ("+CPMS", "set", '"SM","SM"'),
        ("+CNMI", "test", ""), ("+CPIN", "read", "")]
    assert [c.name for c in split_command_line("^ICCID?;$TSSPCSW=?")] == ["^ICCID", "$TSSPCSW"]
    assert split_command_line("D+79161234567;")[0].arg == "+79161234567;"
    assert split_command_line("S0=0")[0].name == "S0"
    assert split_command_line('+CUSD=1,"*100#;",15')[0].arg == '1,"*100#;",15'


def test_params_unquote_and_errors() -> None:
    cmd = Cmd("+CPMS", "set", '"SM", "ME",,3', "")
    assert cmd.params() == ["SM", "ME", "", "3"]
    assert cmd.int_param(3, 0, 5) == 3
    with pytest.raises(PlainError):
        cmd.int_param(3, 0, 2)
    with pytest.raises(PlainError):
        Cmd("+X", "set", '"open', "").params()
    with pytest.raises(PlainError):
        split_command_line("E0!")
    assert split_command_line("") == []


def test_echo_is_on_until_ate0(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, _at):
        at = AtPort(bank.ports[0].path)
        try:
            ok(at.cmd("ATE1"))
            at.write(b"AT+CSQ\r")
            assert at.until_final()[0] == "AT+CSQ"
            ok(at.cmd("ATE0"))
            at.write(b"AT+CSQ\r")
            assert at.until_final()[0].startswith("+CSQ: ")
            ok(at.cmd("ATZ"))  # back to the default profile: echo on
            at.write(b"AT\r")
            assert at.until_final() == ["AT", "OK"]
        finally:
            at.close()


def test_gammu_leading_escape_and_smstools_chain(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (_bank, at):
        at.write(b"\x1b\r")
        at.write(b"\x1bAT\r")
        assert at.until_final() == ["OK"]
        assert ok(at.cmd("AT+CMEE=1;+CLIP=1;+CREG=2")) == []
        assert ok(at.cmd("AT+CREG?")) == ['+CREG: 2,1,"1A2B","00C3D4"']
        assert ok(at.cmd("AT+CMEE?;+CLIP?")) == ["+CMEE: 1", "+CLIP: 1,1"]


def test_identity_commands(tmp_path: Path) -> None:
    with bank_port(tmp_path, slots=2, seed=5) as (bank, at):
        m = bank.ports[0]
        sim = bank.info["ports"][0]["slots"][0]
        assert ok(at.cmd("AT+CGMI")) == ["hwsim"]
        assert ok(at.cmd("AT+CGSN")) == [m.imei]
        assert luhn_valid(m.imei)
        assert len(m.imei) == 15
        assert ok(at.cmd("AT+CIMI")) == [sim["imsi"]]
        assert ok(at.cmd("AT+CCID")) == [f"+CCID: {sim['iccid']}"]
        assert ok(at.cmd("AT+CNUM")) == [f'+CNUM: "","{sim["msisdn"]}",145']
        crsm = ok(at.cmd("AT+CRSM=176,12258,0,0,10"))[0]
        swapped = crsm.split('"')[1]
        assert "".join(swapped[i + 1] + swapped[i] for i in range(0, 20, 2)) == sim["iccid"]
        assert ok(at.cmd("AT+CPIN?")) == ["+CPIN: READY"]
        assert ok(at.cmd("ATI"))[0] == "hwsim"
        assert ok(at.cmd("AT+CGMM=?")) == []


def test_network_commands(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        csq = ok(at.cmd("AT+CSQ"))[0]
        assert csq == f"+CSQ: {bank.ports[0].state()['signal']},99"
        assert ok(at.cmd("AT+CSQ=?")) == ["+CSQ: (0-31,99),(0-7,99)"]
        assert ok(at.cmd("AT+COPS?")) == ['+COPS: 0,0,"MTS RUS",0']
        assert ok(at.cmd("AT+CGREG?")) == ["+CGREG: 0,1"]
        assert ok(at.cmd("AT+CPAS")) == ["+CPAS: 0"]
        assert ok(at.cmd("AT+CFUN?")) == ["+CFUN: 1"]
        ok(at.cmd("AT+CREG=1"))
        ok(at.cmd("AT+CFUN=4"))
        assert at.wait_line(r"^\+CREG:") == "+CREG: 0"
        assert ok(at.cmd("AT+CSQ")) == ["+CSQ: 99,99"]
        ok(at.cmd("AT+CFUN=1"))
        assert at.wait_line(r"^\+CREG:") == "+CREG: 1"


def test_settings_and_test_forms(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (_bank, at):
        assert ok(at.cmd("AT+CNMI=?")) == ["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"]
        ok(at.cmd("AT+CNMI=2,1,0,2,0"))
        assert ok(at.cmd("AT+CNMI?")) == ["+CNMI: 2,1,0,2,0"]
        assert ok(at.cmd("AT+CSMS?")) == ["+CSMS: 0,1,1,1"]
        assert ok(at.cmd("AT+CSCA?")) == ['+CSCA: "+79168999100",145']
        assert ok(at.cmd("AT+CSCS=?")) == ['+CSCS: ("GSM","IRA","UCS2")']
        ok(at.cmd('AT+CSCS="UCS2"'))
        assert ok(at.cmd("AT+CSCS?")) == ['+CSCS: "UCS2"']
        assert ok(at.cmd("AT+CHUP=?")) == []
        assert ok(at.cmd("AT+CMMS=2")) == []
        assert ok(at.cmd("AT+CCWA=1")) == []
        assert ok(at.cmd("AT+CVHU=0")) == []
        assert ok(at.cmd("AT+CUSD=1")) == []
        ok(at.cmd('AT+CUSD=1,"*100#",15'))
        assert at.wait_line(r"^\+CUSD:") == '+CUSD: 0,"Balance: 100.00 RUB",15'
        assert at.cmd("AT+CNMI=9")[-1] == "ERROR"


def test_unknown_commands_error_and_are_logged(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        assert at.cmd("AT+MODE=2") == ["ERROR"]
        assert at.cmd("AT+CPROT=?") == ["ERROR"]
        assert at.cmd("AT+CMEE=1;+BOGUS;+CLIP=1") == ["ERROR"]
        st = bank.ports[0].state()
        assert {"+MODE=2", "+CPROT=?", "+BOGUS"} <= set(st["unknown_commands"])
        # the command before the unknown one took effect; the one after did not
        assert st["settings"]["cmee"] == 1
        assert st["settings"]["clip"] == 0


def test_cme_error_verbosity(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (_bank, at):
        assert at.cmd('AT+CPIN="1234"') == ["ERROR"]
        ok(at.cmd("AT+CMEE=1"))
        assert at.cmd('AT+CPIN="1234"') == ["+CME ERROR: 3"]
        ok(at.cmd("AT+CMEE=2"))
        assert at.cmd('AT+CPIN="1234"') == ["+CME ERROR: operation not allowed"]


def test_numeric_and_quiet_results(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (_bank, at):
        at.write(b"ATV0\r")
        assert at.line() == "0"
        at.write(b"AT+CSQ\r")
        assert at.line().startswith("+CSQ: ")
        assert at.line() == "0"
        at.write(b"AT+FOO\r")
        assert at.line() == "4"
        at.write(b"ATV1Q1\r")
        at.write(b"AT+CSQ\r")
        assert at.line().startswith("+CSQ: ")
        at.write(b"ATQ0\r")
        assert at.line() == "OK"


def test_at_log_has_timestamps_and_both_directions(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        ok(at.cmd("AT+CSQ"))
        log = bank.ports[0].state()["at_log"]
        rx = [e for e in log if e["dir"] == "rx"]
        tx = [e for e in log if e["dir"] == "tx"]
        assert rx[-1]["data"] == "AT+CSQ"
        assert "OK" in tx[-1]["data"]
        assert all(isinstance(e["t"], float) for e in log)
        assert rx[-1]["t"] <= tx[-1]["t"]
