"""Each profile's dialect spoken over its pty: identity, ICCID command, errors, URC shapes, call quirks."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwsim.sms import encode_deliver_part
from tests.hwsim.hwsimlib import bank_port, ok

CALLER = "+79035550001"
SENDER = "+79161234567"


@pytest.mark.parametrize(("profile", "manufacturer", "model"), [
    ("generic", "hwsim", "Generic 27.007 modem"),
    ("sim800", "SIMCOM_Ltd", "SIMCOM_SIM800L"),
    ("ec25", "Quectel", "EC25"),
    ("e173", "huawei", "E173"),
])
def test_identity_per_profile(tmp_path: Path, profile: str, manufacturer: str, model: str) -> None:
    with bank_port(tmp_path, profile=profile) as (bank, at):
        assert ok(at.cmd("AT+CGMI")) == [manufacturer]
        assert ok(at.cmd("AT+CGMM")) == [model]
        assert ok(at.cmd("AT+CGSN")) == [bank.ports[0].imei]
        assert ok(at.cmd("AT+CPIN?")) == ["+CPIN: READY"]


@pytest.mark.parametrize(("profile", "command", "shape"), [
    ("generic", "AT+CCID", "+CCID: {}"),
    ("sim800", "AT+CCID", "{}"),
    ("ec25", "AT+QCCID", "+QCCID: {}"),
    ("e173", "AT^ICCID?", "^ICCID: {}"),
])
def test_iccid_command_per_profile(tmp_path: Path, profile: str, command: str, shape: str) -> None:
    with bank_port(tmp_path, profile=profile) as (bank, at):
        iccid = bank.info["ports"][0]["slots"][0]["iccid"]
        assert ok(at.cmd(command)) == [shape.format(iccid)]


def test_sim800_quirks(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="sim800") as (bank, at):
        m = bank.ports[0]
        assert ok(at.cmd("ATI")) == ["SIM800 R14.18"]
        # an empty index: bare OK
        assert at.cmd("AT+CMGR=3") == ["OK"]
        # +CMS errors are plain ERROR until AT+CMEE>0
        assert at.cmd("AT+CMGR=99") == ["ERROR"]
        ok(at.cmd("AT+CMEE=1"))
        assert at.cmd("AT+CMGR=99") == ["+CMS ERROR: 321"]
        assert ok(at.cmd("AT+CPMS=?")) == ['+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")']
        assert ok(at.cmd("AT+CSMINS?")) == ["+CSMINS: 0,1"]
        m.sms(SENDER, "a")
        m.sms(SENDER, "b")
        ok(at.cmd('AT+CMGDA="DEL ALL"'))
        assert m.state()["storage"] == []


def test_sim800_mms_push_cmti_has_a_third_field(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="sim800") as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1"))
        # a WAP push: UDH with the 16-bit application port IE, destination 2948 (0x0B84)
        udh = "0605040B8423F0"
        part = encode_deliver_part("+79161234567", "", ucs2=False)
        raw = bytes.fromhex(part)
        smsc_len = raw[0]
        tpdu = bytearray(raw[1 + smsc_len:])
        oa_len = (tpdu[1] + 1) // 2
        dcs_at = 1 + 2 + oa_len + 1
        tpdu[0] |= 0x40
        tpdu[dcs_at] = 0x04  # 8-bit data
        udl_at = dcs_at + 1 + 7
        body = bytes.fromhex(udh) + b"\x01\x06"
        tpdu = tpdu[:udl_at] + bytes([len(body)]) + body
        m.pdu(raw[:1 + smsc_len].hex() + tpdu.hex())
        assert at.wait_line(r"^\+CMTI") == '+CMTI: "SM",1,"MMS PUSH"'
        m.sms(SENDER, "plain")
        assert at.wait_line(r"^\+CMTI") == '+CMTI: "SM",2'


def test_sim800_ring_and_clip_arrive_in_separate_reads(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="sim800") as (bank, at):
        ok(at.cmd("AT+CLIP=1"))
        at.reads.clear()
        bank.ports[0].call(CALLER, rings=1)
        assert at.wait_line("RING") == "RING"
        assert at.wait_line("CLIP") == f'+CLIP: "{CALLER}",145,"",0,"",0'
        ring_read = next(r for r in at.reads if b"RING" in r)
        assert b"+CLIP" not in ring_read


def test_generic_writes_ring_and_clip_together(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        ok(at.cmd("AT+CLIP=1"))
        at.reads.clear()
        bank.ports[0].call(CALLER, rings=1)
        at.wait_line("CLIP")
        assert any(b"RING" in r and b"+CLIP" in r for r in at.reads)


def test_ec25_quirks(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="ec25") as (bank, at):
        m = bank.ports[0]
        assert ok(at.cmd("ATI")) == ["Quectel", "EC25", "Revision: EC25EFAR06A06M4G"]
        assert ok(at.cmd("AT+CSCS?")) == ['+CSCS: "GSM"']
        assert ok(at.cmd("AT+COPS?")) == ['+COPS: 0,0,"MTS RUS",7']
        assert at.cmd("AT+CMGR=3") == ["+CMS ERROR: 321"]
        assert at.cmd("AT+CNMA") == ["+CMS ERROR: 340"]
        ok(at.cmd("AT+CLIP=1"))
        ok(at.cmd('AT+QINDCFG="ring",0'))
        assert ok(at.cmd('AT+QINDCFG="ring"')) == ['+QINDCFG: "ring",0']
        m.call(CALLER, rings=1)
        assert at.wait_line("CLIP") == f'+CLIP: "{CALLER}",145,"",0,"",0'
        at.wait_line("NO CARRIER")
        assert "RING" not in at.seen


def test_ec25_me_storage(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="ec25") as (bank, at):
        m = bank.ports[0]
        assert ok(at.cmd('AT+CPMS="ME","ME","ME"')) == ["+CPMS: 0,255,0,255,0,255"]
        ok(at.cmd("AT+CNMI=2,1"))
        m.sms(SENDER, "to the modem memory")
        assert at.wait_line("CMTI") == '+CMTI: "ME",1'
        assert m.state()["storage"][0]["mem"] == "ME"
        assert at.cmd('AT+CPMS="XX"') == ["+CMS ERROR: 302"]


def test_e173_quirks(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="e173") as (bank, at):
        m = bank.ports[0]
        assert at.cmd("AT+CPROT=?") == ["COMMAND NOT SUPPORT"]
        assert ok(at.cmd("ATI"))[3] == f"IMEI: {m.imei}"
        assert ok(at.cmd("AT+CNMI=?")) == ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"]
        ok(at.cmd("AT+CNMI=2,1"))
        m.sms(SENDER, "one")
        # +CMTI goes to the PC UI port until AT^PORTSEL=1
        ok(at.cmd("AT"))
        assert not any(x.startswith("+CMTI") for x in at.seen)
        ok(at.cmd("AT^PORTSEL=1"))
        m.sms(SENDER, "two")
        assert at.wait_line("CMTI") == '+CMTI: "SM",2'


def test_e173_periodic_reports_until_curc_0(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="e173") as (bank, at):
        m = bank.ports[0]
        assert at.wait_line(r"^\^RSSI:") == f"^RSSI:{m.state()['signal']}"
        assert any(x.startswith("^BOOT:") for x in at.seen)
        ok(at.cmd("AT^CURC=0"))
        assert ok(at.cmd("AT^CURC?")) == ["^CURC: 0"]
        # no report for several intervals
        at.seen.clear()
        with pytest.raises(TimeoutError):
            at.wait_line(r"^\^(RSSI|BOOT)", timeout_s=1.0)


def test_e173_ath_ignored_until_cvhu_0(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="e173") as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CLIP=1"))
        m.call(CALLER, rings=20)
        assert at.wait_line("CLIP") == f'+CLIP: "{CALLER}",145,,,,0'
        assert ok(at.cmd("AT+CVHU?")) == ["+CVHU: 1"]
        ok(at.cmd("ATH"))
        assert m.calls()[0]["state"] == "ringing"
        ok(at.cmd("AT+CVHU=0"))
        ok(at.cmd("ATH"))
        assert m.calls()[0]["hangup_command"] == "ATH"


def test_e173_caller_gives_up_with_cend(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="e173") as (bank, at):
        bank.ports[0].call(CALLER, rings=1)
        assert at.wait_line(r"^\^CEND") == "^CEND:1,0,104,16"
