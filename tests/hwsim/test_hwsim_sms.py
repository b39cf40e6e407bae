"""The generic modem's SMS side over a real pty: storage, listing, reading, deleting, sending, direct delivery."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwsim.sms import encode_deliver, tpdu_length
from tests.hwsim.hwsimlib import AtPort, bank_port, ok

SENDER = "+79161234567"


def test_sms_is_stored_then_announced_with_cmti(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1,0,2,0"))
        pdus = m.sms(SENDER, "Hello")
        assert at.wait_line(r"^\+CMTI:") == '+CMTI: "SM",1'
        assert ok(at.cmd("AT+CMGR=1")) == [f"+CMGR: 0,,{tpdu_length(pdus[0])}", pdus[0]]
        # reading marked it read
        assert ok(at.cmd("AT+CMGR=1"))[0].startswith("+CMGR: 1,,")
        assert m.state()["storage"] == [{"index": 1, "stat": 1, "pdu": pdus[0], "mem": "SM"}]


def test_no_cmti_without_cnmi_but_message_stored(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        m.sms(SENDER, "quiet")
        assert ok(at.cmd('AT+CPMS="SM","SM","SM"')) == ["+CPMS: 1,20,1,20,1,20"]
        assert not any(x.startswith("+CMTI") for x in at.seen)
        assert ok(at.cmd("AT+CPMS?")) == ['+CPMS: "SM",1,20,"SM",1,20,"SM",1,20']
        assert ok(at.cmd("AT+CPMS=?")) == ['+CPMS: ("SM","ME"),("SM","ME"),("SM","ME")']


def test_cmgl_pdu_stats_and_status_change(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        first = m.sms(SENDER, "one")[0]
        second = m.sms(SENDER, "two")[0]
        ok(at.cmd("AT+CMGR=1"))  # index 1 becomes read
        assert ok(at.cmd("AT+CMGL=0")) == [f"+CMGL: 2,0,,{tpdu_length(second)}", second]
        # listing unread marked index 2 read
        assert ok(at.cmd("AT+CMGL=0")) == []
        assert ok(at.cmd("AT+CMGL=1")) == [f"+CMGL: 1,1,,{tpdu_length(first)}", first,
                                           f"+CMGL: 2,1,,{tpdu_length(second)}", second]
        assert ok(at.cmd("AT+CMGL=2")) == []
        assert len(ok(at.cmd("AT+CMGL=4"))) == 4
        assert ok(at.cmd("AT+CMGL=?")) == ["+CMGL: (0-4)"]
        assert at.cmd('AT+CMGL="ALL"')[-1] == "+CMS ERROR: 304"
        assert at.cmd("AT+CMGL=7")[-1] == "ERROR"


def test_cmgd_single_and_delflags(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        for i in range(4):
            m.sms(SENDER, f"m{i}")
        ok(at.cmd("AT+CMGR=1"))
        ok(at.cmd("AT+CMGR=2"))
        ok(at.cmd("AT+CMGD=3"))
        assert [s["index"] for s in m.state()["storage"]] == [1, 2, 4]
        assert ok(at.cmd("AT+CMGD=?")) == ["+CMGD: (1,2,4),(0-4)"]
        ok(at.cmd("AT+CMGD=1,1"))  # all read ones
        assert [s["index"] for s in m.state()["storage"]] == [4]
        ok(at.cmd("AT+CMGD=0,4"))
        assert m.state()["storage"] == []
        # an empty index is fine, one outside the memory is not
        ok(at.cmd("AT+CMGD=5"))
        assert at.cmd("AT+CMGD=99")[-1] == "+CMS ERROR: 321"
        assert at.cmd("AT+CMGR=5")[-1] == "+CMS ERROR: 321"


def test_cmgs_pdu_prompt_ctrl_z_and_escape(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        submit = "0011000B919761214365F70000AA05C8329BFD06"
        at.prompt("AT+CMGS=19")
        at.write(submit.encode() + b"\x1a")
        lines = at.until_final()
        assert lines[-1] == "OK"
        assert lines[0].startswith("+CMGS: ")
        assert m.state()["sent"][0]["pdu"] == submit
        at.prompt("AT+CMGS=19")
        at.write(b"0011\x1b")
        assert at.until_final()[-1] == "OK"
        assert len(m.state()["sent"]) == 1
        at.prompt("AT+CMGS=5")
        at.write(submit.encode() + b"\x1a")
        assert at.until_final()[-1] == "+CMS ERROR: 304"


def test_cmgw_stores_and_cmss_sends(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        submit = "0011000B919761214365F70000AA05C8329BFD06"
        at.prompt("AT+CMGW=19")
        at.write(submit.encode() + b"\x1a")
        assert ok(at.until_final()) == ["+CMGW: 1"]
        assert m.state()["storage"][0]["stat"] == 2
        assert ok(at.cmd("AT+CMSS=1"))[0].startswith("+CMSS: ")
        assert m.state()["storage"][0]["stat"] == 3


def test_multipart_parts_stored_in_order(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1"))
        pdus = m.sms(SENDER, "x" * 400)
        assert len(pdus) == 3
        for i in range(3):
            assert at.wait_line(r"^\+CMTI:") == f'+CMTI: "SM",{i + 1}'
        assert [s["pdu"] for s in m.state()["storage"]] == pdus


def test_raw_pdu_delivered_as_given(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        raw = encode_deliver("Sberbank", "kod 1234")[0]
        m.pdu(raw.lower())
        assert ok(at.cmd("AT+CMGR=1"))[1] == raw
        with pytest.raises(ValueError, match="hex"):
            m.pdu("zz")


def test_direct_delivery_cmt_with_cnma(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        assert ok(at.cmd("AT+CSMS=1")) == ["+CSMS: 1,1,1"]
        ok(at.cmd("AT+CNMI=2,2,0,0,0"))
        pdu = m.sms(SENDER, "direct")[0]
        assert at.wait_line(r"^\+CMT:") == f"+CMT: ,{tpdu_length(pdu)}"
        assert at.wait_line(r"^[0-9A-F]+$") == pdu
        ok(at.cmd("AT+CNMA"))
        assert at.cmd("AT+CNMA")[-1] == "+CMS ERROR: 340"
        assert m.state()["storage"] == []


def test_direct_delivery_without_ack_falls_back_to_storage(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CSMS=1"))
        ok(at.cmd("AT+CNMI=2,2,0,0,0"))
        pdu = m.sms(SENDER, "never acked")[0]
        at.wait_line(r"^\+CMT:")
        assert at.wait_line(r"^[0-9A-F]+$") == pdu
        # 27.005: after the ack timeout the TA turns <mt> off and the network delivers again -> stored
        assert m.wait_until(lambda mm: bool(mm.state()["storage"]), 5)
        assert m.state()["storage"][0]["pdu"] == pdu
        assert ok(at.cmd("AT+CNMI?")) == ["+CNMI: 2,0,0,0,0"]


def test_direct_delivery_phase2_needs_no_ack_and_class2_is_stored(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,2"))
        m.sms(SENDER, "no ack needed")
        at.wait_line(r"^\+CMT:")
        m.sms(SENDER, "sim specific", message_class=2)
        assert at.wait_line(r"^\+CMTI:") == '+CMTI: "SM",1'


def test_full_storage_holds_messages_at_the_network(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1"))
        sent = [m.sms(SENDER, f"msg {i}")[0] for i in range(23)]
        st = m.state()
        assert len(st["storage"]) == 20
        assert len(st["network_queue"]["1"]) == 3
        # the client drains; the held ones arrive as space frees, nothing is lost
        got: list[str] = []
        while len(got) < len(sent):
            listing = ok(at.cmd("AT+CMGL=4"))
            for i, line in enumerate(listing):
                if line.startswith("+CMGL:"):
                    got.append(listing[i + 1])
                    ok(at.cmd(f"AT+CMGD={line.split()[1].split(',')[0]}"))
        assert sorted(got) == sorted(sent)
        assert m.wait_until(lambda mm: not mm.state()["storage"] and not mm.state()["network_queue"]["1"], 5)


def test_cmgw_into_full_memory_is_322(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        m.fault("storage-full")
        assert at.cmd("AT+CMGW=19")[-1] == "+CMS ERROR: 322"
        assert len(m.state()["storage"]) == 20


def test_text_mode_send_list_and_read(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CMGF=1"))
        assert ok(at.cmd("AT+CMGF?")) == ["+CMGF: 1"]
        at.prompt('AT+CMGS="+79161234567"')
        at.write(b"hello\x1a")
        assert at.until_final()[-1] == "OK"
        assert m.state()["sent"][0]["pdu"] == "text:+79161234567:hello"
        m.sms(SENDER, "Hi [1] @home")
        m.sms("MTS-Info", "Привет")
        scts = "24/03/15,10:30:00+12"
        assert ok(at.cmd('AT+CMGL="REC UNREAD"')) == [
            f'+CMGL: 1,"REC UNREAD","{SENDER}",,"{scts}"', "Hi [1] @home",
            f'+CMGL: 2,"REC UNREAD","MTS-Info",,"{scts}"', "041F04400438043204350442"]
        assert ok(at.cmd('AT+CMGL="REC UNREAD"')) == []
        ok(at.cmd("AT+CSDH=1"))
        assert ok(at.cmd("AT+CMGR=1")) == [
            f'+CMGR: "REC READ","{SENDER}",,"{scts}",145,4,0,0,"+79168999100",145,12', "Hi [1] @home"]
        ok(at.cmd('AT+CSCS="UCS2"'))
        assert ok(at.cmd("AT+CMGR=1"))[1] == "Hi [1] @home".encode("utf-16-be").hex().upper()
        assert at.cmd('AT+CMGL="NEW"')[-1] == "+CMS ERROR: 305"
        assert at.cmd("AT+CMGL=4")[-1] == "+CMS ERROR: 305"


def test_two_clients_in_turn_see_no_eio(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        at.close()
        second = AtPort(bank.ports[0].path)
        try:
            assert second.cmd("AT")[-1] == "OK"
        finally:
            second.close()
