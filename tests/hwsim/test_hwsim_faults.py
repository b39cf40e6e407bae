"""Every fault kind over a real pty: unplug/replug, hang, garbage, urc-in-response, cms-error, storage-full, reboot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import serial

from tests.hwsim.hwsimlib import AtPort, bank_port, ok

SENDER = "+79161234567"


def test_unplug_removes_the_path_and_breaks_the_client_replug_makes_a_new_pty(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        link = Path(m.path)
        old_target = os.readlink(link)
        m.fault("unplug")
        assert not link.exists()
        assert not link.is_symlink()
        with pytest.raises(serial.SerialException):
            at.write(b"AT\r")
        m.sms(SENDER, "while unplugged")
        assert m.state()["storage"] == []
        m.fault("replug")
        assert link.is_symlink()
        assert os.readlink(link) != old_target
        again = AtPort(m.path)
        try:
            # a fresh boot: echo is on again, the held message is now on the SIM
            at.close()
            again.write(b"AT\r")
            assert again.until_final()[-1] == "OK"
            assert m.wait_until(lambda mm: len(mm.state()["storage"]) == 1, 5)
        finally:
            again.close()


def test_hang_stops_answering_until_clear(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        m.fault("hang")
        at.write(b"AT\r")
        with pytest.raises(TimeoutError):
            at.until_final(timeout_s=0.5)
        m.sms(SENDER, "while hung")
        assert m.state()["storage"] == []  # the firmware is stuck; the network holds it
        assert m.state()["at_log"][-1]["data"] == "AT\r"
        m.fault("clear")
        assert at.cmd("AT") == ["OK"]
        assert m.wait_until(lambda mm: len(mm.state()["storage"]) == 1, 5)


def test_garbage_between_lines_then_clean(tmp_path: Path) -> None:
    with bank_port(tmp_path, seed=3) as (bank, at):
        m = bank.ports[0]
        m.fault("garbage")
        junk = at.line()
        assert junk not in ("OK", "ERROR")
        lines = at.cmd("AT+CSQ")
        assert lines[-1] == "OK"
        assert any(x.startswith("+CSQ: ") for x in lines)
        assert len(lines) == 3  # garbage line, +CSQ, OK
        ok(at.cmd("AT"))
        ok(at.cmd("AT"))
        assert at.cmd("AT") == ["OK"]  # over after three responses
        assert "garbage" not in m.state()["faults"]


def test_garbage_is_deterministic_from_the_seed(tmp_path: Path) -> None:
    seen = []
    for run in range(2):
        with bank_port(tmp_path / str(run), seed=11) as (bank, at):
            bank.ports[0].fault("garbage")
            seen.append(at.ser.read(64))
    assert seen[0] == seen[1]
    assert seen[0]


def test_urc_inside_the_next_response(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        m.sms(SENDER, "x")
        m.fault("urc-in-response")
        lines = at.cmd("AT+CMGL=4")
        assert lines[0].startswith("+CMGL: 1,0,,")
        assert lines[1] == '+CMTI: "SM",1'
        assert lines[-1] == "OK"
        assert len(lines) == 4
        assert ok(at.cmd("AT+CSQ"))[0].startswith("+CSQ")  # one response only


def test_cms_error_on_the_next_sms_command_only(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        m.sms(SENDER, "x")
        m.fault("cms-error", "500")
        ok(at.cmd("AT+CSQ"))  # not an SMS command
        assert at.cmd("AT+CMGR=1") == ["+CMS ERROR: 500"]
        assert ok(at.cmd("AT+CMGR=1"))[0].startswith("+CMGR: 0,,")
        with pytest.raises(ValueError, match="CODE"):
            m.fault("cms-error")
        with pytest.raises(ValueError, match="unknown fault"):
            m.fault("explode")


def test_storage_full_must_be_drained_and_loses_nothing(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1"))
        m.fault("storage-full")
        assert ok(at.cmd("AT+CPMS?")) == ['+CPMS: "SM",20,20,"SM",20,20,"SM",20,20']
        pdu = m.sms(SENDER, "after full")[0]
        assert m.state()["network_queue"]["1"] == [pdu]
        ok(at.cmd("AT+CMGD=1,4"))
        assert at.wait_line(r"^\+CMTI:") == '+CMTI: "SM",1'
        assert [s["pdu"] for s in m.state()["storage"]] == [pdu]


@pytest.mark.parametrize("cure", ["AT+CFUN=1,1", "AT+CFUN=0;+CFUN=1", "clear"])
def test_no_network_holds_messages_until_the_radio_restarts(tmp_path: Path, cure: str) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1"))
        ok(at.cmd("AT+CREG=1"))
        m.fault("no-network")
        assert at.wait_line(r"^\+CREG:") == "+CREG: 2"
        assert ok(at.cmd("AT+CREG?")) == ["+CREG: 1,2"]
        pdu = m.sms(SENDER, "held while searching")[0]
        assert m.state()["storage"] == []
        ok(at.cmd("AT+CFUN=1"))  # asking for full function again is not enough
        assert ok(at.cmd("AT+CREG?")) == ["+CREG: 1,2"]
        if cure == "clear":
            m.fault("clear")
        else:
            for command in cure.split(";"):
                ok(at.cmd(command if command.startswith("AT") else "AT" + command))
        # registered again (after the restart, for AT+CFUN=1,1): the network delivers what it held
        assert m.wait_until(lambda mm: [x["pdu"] for x in mm.state()["storage"]] == [pdu], 10.0)


def test_reboot_goes_silent_then_banner_and_defaults(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="sim800") as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1"))
        m.sms(SENDER, "kept on the SIM")
        at.wait_line(r"^\+CMTI")
        m.fault("reboot")
        for line in ("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"):
            assert at.wait_line(".") == line
        at.write(b"AT+CNMI?\r")
        assert at.until_final() == ["AT+CNMI?", "+CNMI: 0,0,0,0,0", "OK"]  # echo back on, CNMI reset
        assert len(m.state()["storage"]) == 1


def test_clear_keeps_an_unplugged_port_unplugged(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, _at):
        m = bank.ports[0]
        m.fault("unplug")
        m.fault("clear")
        assert not Path(m.path).exists()
        assert m.state()["faults"] == {"unplugged": True}
        m.fault("replug")
        assert Path(m.path).exists()
