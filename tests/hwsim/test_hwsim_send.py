"""Sending over a real pty on every profile: AT+CMGS in PDU mode, the send-error fault, status reports (+CDS, +CDSI)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hwsim import VirtualModem
from hwsim.sms import gsm7_septets
from tests.hwsim.hwsimlib import FAST, AtPort, bank_port, ok

PROFILES = ("generic", "sim800", "ec25", "e173")
TO = "+79161234567"
OTHER = "+79035550001"
CTRL_Z = b"\x1a"
ESC = b"\x1b"
SRR = 0x20
UDHI = 0x40
ST_DELIVERED = 0x00
ST_FAILED = 0x41
ST_PENDING = 0x20
REPORT_TIMEOUT_S = 5.0
HWSIM = [sys.executable, "-m", "hwsim.cli"]
TIMING = replace(FAST, report_delay_s=0.05)


# ---- SMS-SUBMIT and SMS-STATUS-REPORT by hand (TS 23.040 §9.2.2.2, §9.2.2.3) -----------------------------------

def _address(number: str) -> bytes:
    digits = number.removeprefix("+")
    toa = 0x91 if number.startswith("+") else 0x81
    padded = digits + ("F" if len(digits) % 2 else "")
    return bytes((len(digits), toa)) + bytes.fromhex("".join(padded[i + 1] + padded[i]
                                                             for i in range(0, len(padded), 2)))


def submit(number: str, text: str, *, srr: bool = False, mr: int = 0, udh: bytes = b"",
           ucs2: bool = False) -> str:
    """An SMS-SUBMIT with an empty SMSC field ("00"), TP-VP relative (one day)."""
    first = 0x01 | 0x10 | (SRR if srr else 0) | (UDHI if udh else 0)
    header = bytes((len(udh),)) + udh if udh else b""
    if ucs2:
        ud = header + text.encode("utf-16-be")
        udl, dcs = len(ud), 0x08
    else:
        septets = gsm7_septets(text)
        assert septets is not None
        fill = (len(header) * 8 + 6) // 7
        acc = 0
        for i, s in enumerate(septets):
            acc |= s << (7 * (fill + i))
        packed = acc.to_bytes((7 * (fill + len(septets)) + 7) // 8, "little")
        ud = header + packed[len(header):]
        udl, dcs = fill + len(septets), 0x00
    tpdu = bytes((first, mr)) + _address(number) + bytes((0x00, dcs, 0xA7, udl)) + ud
    return "00" + tpdu.hex().upper()


def concat_udh(ref: int, total: int, seq: int) -> bytes:
    return bytes((0x00, 3, ref, total, seq))


def read_report(pdu: str) -> tuple[int, str, int]:
    """(TP-MR, TP-RA, TP-ST) of an SMS-STATUS-REPORT PDU (SMSC field included)."""
    raw = bytes.fromhex(pdu)
    tp = raw[1 + raw[0]:]
    assert tp[0] & 0x03 == 0x02, pdu
    digits, toa = tp[2], tp[3]
    value = tp[4:4 + (digits + 1) // 2]
    number = "".join(f"{b & 0x0F}{b >> 4}" for b in value)[:digits]
    return tp[1], ("+" if toa == 0x91 else "") + number, tp[4 + (digits + 1) // 2 + 14]


# ---- the AT side ------------------------------------------------------------------------------------------------

def send(at: AtPort, pdu: str) -> list[str]:
    """AT+CMGS=<length>, wait for "> ", the PDU and Ctrl-Z; the lines up to the final result code."""
    raw = bytes.fromhex(pdu)
    at.prompt(f"AT+CMGS={len(raw) - 1 - raw[0]}")
    at.write(pdu.encode() + CTRL_Z)
    return at.until_final()


def mr_of(lines: list[str]) -> int:
    info = ok(lines)
    assert len(info) == 1, lines
    assert info[0].startswith("+CMGS: "), lines
    return int(info[0].removeprefix("+CMGS: "))


def setup(at: AtPort, profile: str, cnmi: str) -> None:
    ok(at.cmd("AT+CMEE=1"))
    ok(at.cmd("AT+CMGF=0"))
    if profile == "e173":
        ok(at.cmd("AT^PORTSEL=1"))  # new-message and report indications come out on this port
    ok(at.cmd(f"AT+CNMI={cnmi}"))


def wait_cds(at: AtPort) -> tuple[int, str, int]:
    """The next +CDS: <length> and its PDU line, read as a report."""
    head = at.wait_line(r"^\+CDS: ", REPORT_TIMEOUT_S)
    pdu = at.line()
    raw = bytes.fromhex(pdu)
    assert int(head.removeprefix("+CDS: ")) == len(raw) - 1 - raw[0]
    return read_report(pdu)


def wait_cdsi(at: AtPort) -> tuple[str, int]:
    line = at.wait_line(r"^\+CDSI: ", REPORT_TIMEOUT_S)
    mem, index = line.removeprefix("+CDSI: ").split(",")
    return mem.strip('"'), int(index)


def sent(m: VirtualModem) -> list[dict[str, Any]]:
    return list(m.state()["sent"])


# ---- AT+CMGS --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_cmgs_records_the_decoded_send_with_the_modems_own_mr(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        setup(at, profile, "2,1,0,0,0")
        first = submit(TO, "Hello [world] €5", mr=0x77)
        mr1 = mr_of(send(at, first))
        mr2 = mr_of(send(at, submit(OTHER, "Привет", ucs2=True, mr=0x77)))
        assert mr2 == (mr1 + 1) % 256  # the modem's counter, not the 0x77 the PDUs carry
        one, two = sent(m)
        assert one["pdu"] == first
        assert one["length"] == len(first) // 2 - 1
        assert one["mr"] == mr1
        assert (one["recipient"], one["text"], one["srr"]) == (TO, "Hello [world] €5", False)
        assert "udh" not in one
        assert "concat" not in one
        assert (two["recipient"], two["text"], two["mr"]) == (OTHER, "Привет", mr2)


@pytest.mark.parametrize("profile", PROFILES)
def test_cmgs_length_checked_and_escape_cancels(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        setup(at, profile, "2,1,0,0,0")
        pdu = submit(TO, "length")
        at.prompt(f"AT+CMGS={len(pdu) // 2}")  # the SMSC octet counted: one too many
        at.write(pdu.encode() + CTRL_Z)
        assert at.until_final() == ["+CMS ERROR: 304"]
        at.prompt(f"AT+CMGS={len(pdu) // 2 - 1}")
        at.write(pdu[:10].encode() + ESC)
        assert at.until_final() == ["OK"]
        assert sent(m) == []
        assert mr_of(send(at, pdu)) >= 0
        assert [s["text"] for s in sent(m)] == ["length"]


def test_multipart_send_is_recorded_per_part_with_its_concat_header(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        setup(at, "generic", "2,1,0,0,0")
        parts = ["first part ", "second part ", "end"]
        mrs = [mr_of(send(at, submit(TO, text, udh=concat_udh(0x42, 3, seq))))
               for seq, text in enumerate(parts, start=1)]
        got = sent(m)
        assert [s["mr"] for s in got] == mrs
        assert len(set(mrs)) == 3
        assert [s["text"] for s in got] == parts
        assert [s["concat"] for s in got] == [{"ref": 0x42, "total": 3, "seq": seq} for seq in (1, 2, 3)]
        assert got[0]["udh"] == "00034203" + "01"


# ---- the send-error fault ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_send_error_fails_the_next_sends_then_a_send_succeeds(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        setup(at, profile, "2,1,0,0,0")
        m.fault("send-error", "42", "2")
        assert m.state()["faults"]["send-error"] == {"code": 42, "count": 2}
        ok(at.cmd("AT+CMGL=4"))  # only sends fail: other SMS commands work
        pdu = submit(TO, "try again")
        assert send(at, pdu) == ["+CMS ERROR: 42"]
        assert send(at, pdu) == ["+CMS ERROR: 42"]
        mr = mr_of(send(at, pdu))
        state = m.state()
        assert [s["mr"] for s in state["sent"]] == [mr]
        assert [(f["error"], f["recipient"]) for f in state["send_failures"]] == [(42, TO), (42, TO)]
        assert "send-error" not in state["faults"]
        m.fault("send-error", "21")  # permanent: the one send fails, and the gateway must not retry it
        assert send(at, pdu) == ["+CMS ERROR: 21"]
        assert mr_of(send(at, pdu)) == (mr + 1) % 256


def test_send_error_arguments_are_checked(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=TIMING) as (bank, _):
        m = bank.ports[0]
        for args in ((), ("x",), ("38", "0"), ("38", "1", "2")):
            with pytest.raises(ValueError, match="send-error needs"):
                m.fault("send-error", *args)


# ---- status reports ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_status_report_as_cds_delivered_and_failed(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        setup(at, profile, "2,1,0,1,0")
        mr = mr_of(send(at, submit(TO, "report me", srr=True)))
        assert wait_cds(at) == (mr, TO, ST_DELIVERED)
        m.report("failed", to=OTHER)
        mr_other = mr_of(send(at, submit(OTHER, "to a dead number", srr=True)))
        assert wait_cds(at) == (mr_other, OTHER, ST_FAILED)
        mr_again = mr_of(send(at, submit(TO, "still fine", srr=True)))
        assert wait_cds(at) == (mr_again, TO, ST_DELIVERED)
        assert [s.get("report") for s in sent(m)] == ["delivered", "failed", "delivered"]
        assert m.state()["storage"] == []  # +CDS is not stored


@pytest.mark.parametrize("profile", PROFILES)
def test_status_report_stored_and_announced_with_cdsi(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        setup(at, profile, "2,1,0,2,0")
        receive_memory = ok(at.cmd("AT+CPMS?"))[0].split(",")[6].strip('"')
        expected_memory = "SR" if profile == "ec25" else receive_memory
        m.report("failed")
        mr = mr_of(send(at, submit(TO, "report me", srr=True)))
        mem, index = wait_cdsi(at)
        assert mem == expected_memory
        ok(at.cmd(f'AT+CPMS="{mem}"'))
        head, pdu = ok(at.cmd(f"AT+CMGR={index}"))
        assert head.startswith("+CMGR: 0,,")
        assert read_report(pdu) == (mr, TO, ST_FAILED)
        m.report("delivered")
        mr2 = mr_of(send(at, submit(TO, "and again", srr=True)))
        mem2, index2 = wait_cdsi(at)
        assert (mem2, index2) == (mem, index + 1)
        assert read_report(ok(at.cmd(f"AT+CMGR={index2}"))[1]) == (mr2, TO, ST_DELIVERED)


@pytest.mark.parametrize("profile", ["generic", "ec25"])
def test_three_part_message_gets_three_reports(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile, timing=TIMING) as (_bank, at):
        setup(at, profile, "2,1,0,1,0")
        mrs = [mr_of(send(at, submit(TO, f"part {seq} ", srr=True, udh=concat_udh(7, 3, seq))))
               for seq in (1, 2, 3)]
        reports = [wait_cds(at) for _ in mrs]
        assert sorted(reports) == sorted((mr, TO, ST_DELIVERED) for mr in mrs)


def test_cds_waits_for_cnma_under_csms_1(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=replace(TIMING, cnma_timeout_s=30.0)) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CSMS=1"))
        setup(at, "generic", "2,1,0,1,0")
        mr1 = mr_of(send(at, submit(TO, "one", srr=True)))
        mr2 = mr_of(send(at, submit(TO, "two", srr=True)))
        assert wait_cds(at) == (mr1, TO, ST_DELIVERED)
        # the second report is held by the network until the first is acknowledged
        assert m.wait_until(lambda mm: any(mm.state()["network_queue"].values()), REPORT_TIMEOUT_S)
        assert not [line for line in at.seen if line.startswith("+CDS")][1:]
        ok(at.cmd("AT+CNMA"))
        assert wait_cds(at) == (mr2, TO, ST_DELIVERED)
        ok(at.cmd("AT+CNMA"))
        assert at.cmd("AT+CNMA") == ["+CMS ERROR: 340"]


def test_pending_report_has_no_final_report(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        setup(at, "generic", "2,1,0,1,0")
        m.report("pending", to=TO)
        mr = mr_of(send(at, submit(TO, "slow", srr=True)))
        assert wait_cds(at) == (mr, TO, ST_PENDING)
        later = mr_of(send(at, submit(OTHER, "fast", srr=True)))
        assert wait_cds(at) == (later, OTHER, ST_DELIVERED)
        assert sum(1 for line in at.seen if line.startswith("+CDS")) == 2


def test_text_mode_cds_line(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=replace(TIMING, report_delay_s=0.3)) as (_bank, at):
        setup(at, "generic", "2,1,0,1,0")
        mr = mr_of(send(at, submit(TO, "text mode report", srr=True)))
        ok(at.cmd("AT+CMGF=1"))
        line = at.wait_line(r"^\+CDS: ", REPORT_TIMEOUT_S)
        fields = line.removeprefix("+CDS: ").split(",")
        assert fields[:4] == ["6", str(mr), f'"{TO}"', "145"]
        assert fields[-1] == "0"


def test_no_report_without_srr(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=TIMING) as (_bank, at):
        setup(at, "generic", "2,1,0,1,0")
        mr_of(send(at, submit(TO, "no report wanted")))
        mr = mr_of(send(at, submit(OTHER, "report wanted", srr=True)))
        assert wait_cds(at) == (mr, OTHER, ST_DELIVERED)
        assert sum(1 for line in at.seen if line.startswith("+CDS")) == 1


# ---- the command line ---------------------------------------------------------------------------------------------

@pytest.fixture
def bank_process(tmp_path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    directory = tmp_path / "bank"
    proc = subprocess.Popen([*HWSIM, "bank", "--dir", str(directory), "--report-delay", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        yield json.loads(line), directory
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def hwsim(directory: Path, *args: str) -> Any:
    done = subprocess.run([*HWSIM, "--dir", str(directory), *args], capture_output=True, text=True, timeout=20,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cli_send_error_and_report(bank_process: tuple[dict[str, Any], Path]) -> None:
    info, directory = bank_process
    hwsim(directory, "fault", "port01", "send-error", "38")
    hwsim(directory, "report", "port01", "failed", "--to", TO)
    state = hwsim(directory, "state", "port01")
    assert state["faults"]["send-error"] == {"code": 38, "count": 1}
    assert state["reports"] == {"outcome": "delivered", "to": {TO.removeprefix("+"): "failed"}}
    at = AtPort(info["ports"][0]["path"])
    try:
        at.quiet()
        setup(at, "generic", "2,1,0,1,0")
        assert send(at, submit(TO, "x", srr=True)) == ["+CMS ERROR: 38"]
        mr = mr_of(send(at, submit(TO, "x", srr=True)))
        assert wait_cds(at) == (mr, TO, ST_FAILED)
    finally:
        at.close()
    bad = subprocess.run([*HWSIM, "--dir", str(directory), "report", "port01", "lost"], capture_output=True,
                         text=True, timeout=20, check=False)
    assert bad.returncode == 2
    assert "lost" in bad.stderr
    helps = [subprocess.run([*HWSIM, *cmd, "--help"], capture_output=True, text=True, timeout=20,
                            check=True).stdout for cmd in (["fault"], ["report"])]
    assert "send-error CODE [COUNT]" in helps[0]
    assert all(word in helps[1] for word in ("delivered", "failed", "pending", "--to", "+CDSI"))
