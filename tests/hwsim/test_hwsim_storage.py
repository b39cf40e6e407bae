"""Message memories: each family's AT+CPMS offer and default, "MT" as SM and ME in one, messages preloaded
into any memory, and what survives ATZ and a restart."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from hwsim import Bank
from hwsim.bank import PRELOAD_SENDER, parse_preload
from tests.hwsim.hwsimlib import FAST, AtPort, bank_port, ok
from tests.hwsim.test_hwsim_cli import EXIT_TIMEOUT_S, HWSIM, result

SENDER = "+79161234567"
WAIT_S = 5.0


def _booted(bank: Bank) -> bool:
    return bank.ports[0].wait_until(lambda m: m.state()["powered"] and m.state()["registration"] == 1, WAIT_S)


def test_ec25_stores_in_me_out_of_the_box_and_offers_mt(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="ec25") as (bank, at):
        m = bank.ports[0]
        assert ok(at.cmd("AT+CPMS?")) == ['+CPMS: "ME",0,255,"ME",0,255,"ME",0,255']
        assert ok(at.cmd("AT+CPMS=?")) == ['+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")']
        ok(at.cmd("AT+CNMI=2,1"))
        m.sms(SENDER, "to the modem memory")
        assert at.wait_line("CMTI") == '+CMTI: "ME",1'
        assert [(s["mem"], s["index"]) for s in m.state()["storage"]] == [("ME", 1)]


def test_ec25_keeps_its_cpms_choice_across_atz_and_reboot(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="ec25") as (bank, at):
        ok(at.cmd('AT+CPMS="SM","ME","SM"'))
        ok(at.cmd("ATZ"))
        assert ok(at.cmd("AT+CPMS?"))[0].startswith('+CPMS: "SM",0,20,"ME",0,255,"SM",0,20')
        bank.ports[0].fault("reboot")
        at.wait_line("PB DONE")
        assert _booted(bank)
        at.quiet()
        assert ok(at.cmd("AT+CPMS?"))[0].startswith('+CPMS: "SM",0,20,"ME",0,255,"SM",0,20')


def test_generic_forgets_its_cpms_choice_at_reboot(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="generic") as (bank, at):
        ok(at.cmd('AT+CPMS="ME","ME","ME"'))
        bank.ports[0].fault("reboot")
        assert bank.ports[0].wait_until(lambda m: m.state()["settings"]["cpms"] == ["SM", "SM", "SM"], WAIT_S)


@pytest.mark.parametrize("profile", ["generic", "sim800", "ec25", "e173"])
def test_preloaded_messages_survive_a_reboot(tmp_path: Path, profile: str) -> None:
    with Bank(tmp_path / "bank", profiles=(profile,), timing=FAST,
              preload=["port01:ME:2", "*:SM:1"]) as bank:
        m = bank.ports[0]
        before = m.state()["storage"]
        assert [(s["mem"], s["index"], s["stat"]) for s in before] == [("SM", 1, 0), ("ME", 1, 0), ("ME", 2, 0)]
        assert m.state()["memories"]["ME"]["used"] == 2
        m.fault("reboot")
        assert _booted(bank)
        assert m.state()["storage"] == before


def test_mt_is_sm_then_me(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="ec25", preload=["port01:SM:2", "port01:ME:1"]) as (bank, at):
        m = bank.ports[0]
        sm = {s["index"]: s["pdu"] for s in m.state()["storage"] if s["mem"] == "SM"}
        me = {s["index"]: s["pdu"] for s in m.state()["storage"] if s["mem"] == "ME"}
        assert ok(at.cmd('AT+CPMS="MT"')) == ["+CPMS: 3,275,1,255,1,255"]
        listing = ok(at.cmd("AT+CMGL=4"))
        assert [line.split(",")[0] for line in listing[::2]] == ["+CMGL: 1", "+CMGL: 2", "+CMGL: 21"]
        assert listing[1::2] == [sm[1], sm[2], me[1]]
        assert ok(at.cmd("AT+CMGR=21"))[1] == me[1]
        ok(at.cmd("AT+CMGD=21"))
        ok(at.cmd("AT+CMGD=2"))
        assert [(s["mem"], s["index"]) for s in m.state()["storage"]] == [("SM", 1)]
        # received into MT: the SIM first
        ok(at.cmd('AT+CPMS="MT","MT","MT"'))
        ok(at.cmd("AT+CNMI=2,1"))
        m.sms(SENDER, "into MT")
        assert at.wait_line("CMTI") == '+CMTI: "MT",2'
        assert [(s["mem"], s["index"]) for s in m.state()["storage"]] == [("SM", 1), ("SM", 2)]


def test_status_reports_in_sr_on_e173(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="e173", preload=["port01:SR:1"]) as (bank, at):
        assert ok(at.cmd("AT+CPMS=?")) == ['+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM"),("ME","MT","SM")']
        assert at.cmd('AT+CPMS="SM","SR"') == ["+CMS ERROR: 302"]  # SR is for reading only
        assert ok(at.cmd('AT+CPMS="SR"')) == ["+CPMS: 1,50,0,20,0,20"]
        listing = ok(at.cmd("AT+CMGL=4"))
        assert listing[0] == "+CMGL: 1,0,,25"
        pdu = bytes.fromhex(listing[1])
        assert pdu[1 + pdu[0]] & 0x03 == 0x02  # TP-MTI: SMS-STATUS-REPORT
        ok(at.cmd("AT+CMGD=1"))
        assert bank.ports[0].state()["storage"] == []


def test_preload_specs() -> None:
    assert parse_preload("port01:me:3") == ("port01", "ME", 3)
    assert parse_preload("*:SM:1") == ("*", "SM", 1)
    for bad in ("port01:ME", "port01:XX:1", "port01:ME:0", "port01:ME:x", ":ME:1"):
        with pytest.raises(ValueError, match="preload"):
            parse_preload(bad)


def test_preload_into_a_memory_the_profile_lacks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no 'SR' memory"):
        Bank(tmp_path / "bank", profiles=("generic",), preload=["port01:SR:1"])
    with pytest.raises(ValueError, match="no room"):
        Bank(tmp_path / "bank", profiles=("generic",), preload=["port01:SM:21"])


def test_cli_preload_and_store(tmp_path: Path) -> None:
    directory = tmp_path / "bank"
    proc = subprocess.Popen([*HWSIM, "bank", "--ports", "2", "--dir", str(directory), "--profile", "sim800",
                             "--preload", "port01:ME:3", "--preload", "*:SM:1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["dir"] == str(directory)
        state = result(directory, "state", "port01")
        assert [(s["mem"], s["index"]) for s in state["storage"]] == [("SM", 1), ("ME", 1), ("ME", 2), ("ME", 3)]
        assert [(s["mem"], s["index"]) for s in result(directory, "state", "port02")["storage"]] == [("SM", 1)]
        stored = result(directory, "store", "port02", "--memory", "ME", "--sender", SENDER, "left by gammu")
        assert [(s["mem"], s["index"]) for s in stored] == [("ME", 1)]
        at = AtPort(str(directory / "port02"))
        try:
            ok(at.cmd("ATE0"))
            ok(at.cmd('AT+CPMS="ME"'))
            assert ok(at.cmd("AT+CMGL=4"))[1] == stored[0]["pdu"]
        finally:
            at.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=EXIT_TIMEOUT_S)
    bad = subprocess.run([*HWSIM, "bank", "--dir", str(tmp_path / "b2"), "--preload", "port01:SR:1"],
                         capture_output=True, text=True, timeout=EXIT_TIMEOUT_S, check=False)
    assert bad.returncode != 0
    assert "no 'SR' memory" in bad.stderr
    assert PRELOAD_SENDER.startswith("+7900")
