"""Incoming calls over a pty: RING / +CRING, +CLIP, repetition, withheld numbers, hang-up by every command."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.hwsim.hwsimlib import FAST, bank_port, ok

CALLER = "+79035550001"


def test_ring_and_clip_repeat_then_caller_gives_up(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CLIP=1"))
        call_id = m.call(CALLER, rings=2)
        for _ in range(2):
            assert at.wait_line(r"^RING$") == "RING"
            assert at.line() == f'+CLIP: "{CALLER}",145,,,,0'
        assert at.wait_line(r"NO CARRIER") == "NO CARRIER"
        [call] = m.calls()
        assert call["id"] == call_id
        assert call["state"] == "missed"
        assert call["rings_sent"] == 2
        assert call["hung_up_at"] is None
        assert call["hangup_command"] is None
        assert call["first_ring_at"] is not None


def test_crc_gives_cring_and_no_clip_without_at_clip(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        ok(at.cmd("AT+CRC=1"))
        bank.ports[0].call(CALLER, rings=1)
        assert at.wait_line(r"RING") == "+CRING: VOICE"
        assert at.wait_line(r"NO CARRIER") == "NO CARRIER"
        assert not any(x.startswith("+CLIP") for x in at.seen)


def test_withheld_caller(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        ok(at.cmd("AT+CLIP=1"))
        bank.ports[0].call(None, rings=1, withheld=True)
        assert at.wait_line(r"^\+CLIP") == '+CLIP: "",128,,,,1'
        assert bank.ports[0].calls()[0]["withheld"] is True


@pytest.mark.parametrize("command", ["ATH", "AT+CHUP", "AT+CHLD=0", "AT+CHLD=1"])
def test_hang_up_is_recorded_with_command_and_time(tmp_path: Path, command: str) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CLIP=1"))
        m.call(CALLER, rings=10)
        at.wait_line(r"^\+CLIP")
        assert ok(at.cmd("AT+CPAS")) == ["+CPAS: 3"]
        assert ok(at.cmd("AT+CLCC")) == [f'+CLCC: 1,1,4,0,0,"{CALLER}",145']
        ok(at.cmd(command))
        [call] = m.calls()
        assert call["hangup_command"] == command
        assert call["state"] == "hung-up"
        assert call["hung_up_at"] >= call["first_ring_at"]
        assert ok(at.cmd("AT+CPAS")) == ["+CPAS: 0"]
        # no further rings after the hang-up
        before = sum(1 for x in at.seen if x == "RING")
        ok(at.cmd("AT"))
        assert m.calls()[0]["rings_sent"] == before


def test_answer_then_hang_up(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        m = bank.ports[0]
        m.call(CALLER, rings=5)
        at.wait_line("RING")
        ok(at.cmd("ATA"))
        assert m.calls()[0]["state"] == "active"
        ok(at.cmd("ATH"))
        call = m.calls()[0]
        assert call["answered_at"] is not None
        assert call["hangup_command"] == "ATH"
        assert at.cmd("ATA") == ["NO CARRIER"]


def test_second_call_while_ringing_is_rejected_and_bad_arguments(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, _at):
        m = bank.ports[0]
        m.call(CALLER, rings=5)
        m.call("+79161112233", rings=5)
        assert [c["state"] for c in m.calls()] == ["ringing", "rejected"]
        with pytest.raises(ValueError, match="caller"):
            m.call(None)
        with pytest.raises(ValueError, match="rings"):
            m.call(CALLER, rings=0)


def test_ring_interval_is_a_timing_parameter(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, _at):
        m = bank.ports[0]
        m.call(CALLER, rings=3)
        assert m.wait_until(lambda mm: mm.calls()[0]["state"] == "missed", 3 * FAST.ring_interval_s + 5)
        rings = [e["t"] for e in m.state()["at_log"] if e["dir"] == "tx" and "RING" in e["data"]]
        assert len(rings) == 3
        # three rings spaced by the interval: the last one comes at least two intervals after the first
        assert rings[-1] - rings[0] >= 2 * FAST.ring_interval_s * 0.9


# rings far apart: every RING/+CLIP a test reads comes from the call starting or from a fault, not the timer
SLOW_RINGS = replace(FAST, ring_interval_s=30.0)
OTHER = "+79161112233"


def clip(number: str) -> str:
    return f'+CLIP: "{number}",{145 if number else 128},,,,{0 if number else 1}'


def test_call_right_after_a_hang_up_rings_and_calls_lists_both(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=SLOW_RINGS) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CLIP=1"))
        m.call(CALLER, rings=5)
        assert at.wait_line(r"^\+CLIP") == clip(CALLER)
        ok(at.cmd("ATH"))
        m.call(CALLER, rings=5)
        assert at.wait_line(r"^\+CLIP") == clip(CALLER)
        ok(at.cmd("ATH"))
        m.call(None, withheld=True, rings=5)
        assert at.wait_line(r"^\+CLIP") == clip("")
        assert [(c["caller"], c["state"], c["hangup_command"]) for c in m.calls()] == [
            (CALLER, "hung-up", "ATH"), (CALLER, "hung-up", "ATH"), (None, "ringing", None)]
        done = subprocess.run([sys.executable, "-m", "hwsim.cli", "--dir", str(bank.directory), "calls", "port01"],
                              capture_output=True, text=True, timeout=20, check=True)
        listed = json.loads(done.stdout)
        assert [c["id"] for c in listed] == [1, 2, 3]
        assert [c["withheld"] for c in listed] == [False, False, True]


def test_clcc_lists_the_ringing_call_only(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=SLOW_RINGS) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CLIP=1"))
        assert ok(at.cmd("AT+CLCC")) == []
        m.call(CALLER, rings=5)
        at.wait_line(r"^\+CLIP")
        assert ok(at.cmd("AT+CLCC")) == [f'+CLCC: 1,1,4,0,0,"{CALLER}",145']
        ok(at.cmd("ATH"))
        assert ok(at.cmd("AT+CLCC")) == []
        # the next call is call 1 again: <id> numbers the calls in progress, not every call ever
        m.call(None, withheld=True, rings=5)
        at.wait_line(r"^\+CLIP")
        assert ok(at.cmd("AT+CLCC")) == ['+CLCC: 1,1,4,0,0,"",128']


@pytest.mark.parametrize("where", ["before", "after"])
def test_clip_repeat_fault_repeats_the_ring_once_at_the_hang_up(tmp_path: Path, where: str) -> None:
    with bank_port(tmp_path, timing=SLOW_RINGS) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CLIP=1"))
        m.call(CALLER, rings=5)
        at.wait_line(r"^\+CLIP")
        m.fault("clip-repeat", *([] if where == "before" else [where]))
        assert m.state()["faults"] == {"clip-repeat": where}
        if where == "before":
            assert at.cmd("ATH") == ["RING", clip(CALLER), "OK"]
        else:
            assert at.cmd("ATH") == ["OK"]
            assert [at.line(), at.line()] == ["RING", clip(CALLER)]
        # once: the next hang-up of the next call is plain
        m.call(OTHER, rings=5)
        assert [at.line(), at.line()] == ["RING", clip(OTHER)]
        assert at.cmd("ATH") == ["OK"]
        assert [c["state"] for c in m.calls()] == ["hung-up", "hung-up"]
        with pytest.raises(ValueError, match="before"):
            m.fault("clip-repeat", "later")


def test_late_no_carrier_crosses_the_next_command_and_a_new_call(tmp_path: Path) -> None:
    with bank_port(tmp_path, "e173", timing=SLOW_RINGS) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CLIP=1"))
        m.call(CALLER, rings=5)
        at.wait_line(r"^\+CLIP")
        m.fault("late-no-carrier")
        assert at.cmd("AT+CHUP") == ["OK"]
        m.call(CALLER, rings=5)
        assert at.wait_line(r"^\+CLIP") == f'+CLIP: "{CALLER}",145,,,,0'
        at.write(b"AT+CLCC\r")
        # the first call's end (as an E173 reports it) comes before the answer about the second one, once
        assert [at.line() for _ in range(4)] == [
            "^CEND:1,0,104,16", "NO CARRIER", f'+CLCC: 1,1,4,0,0,"{CALLER}",145', "OK"]
        assert at.cmd("AT") == ["OK"]
        assert [c["state"] for c in m.calls()] == ["hung-up", "ringing"]
