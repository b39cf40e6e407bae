"""--baud pacing: a paced port cannot deliver a response faster than the serial line would."""

from __future__ import annotations

import time
from pathlib import Path

from tests.hwsim.hwsimlib import bank_port, ok

BAUD = 9600
BITS_PER_BYTE = 10


def test_output_takes_at_least_the_line_time(tmp_path: Path) -> None:
    with bank_port(tmp_path, baud=BAUD) as (bank, at):
        m = bank.ports[0]
        for i in range(4):
            m.sms("+79161234567", f"message {i} " + "x" * 120)
        started = time.monotonic()
        lines = ok(at.cmd("AT+CMGL=4"))
        elapsed = time.monotonic() - started
        size = sum(len(x) + 2 for x in lines) + len("\r\nOK\r\n")
        assert len(lines) == 8
        floor_s = size * BITS_PER_BYTE / BAUD
        # a functional bound, not a speed check: the bytes cannot arrive before the line could carry them
        assert elapsed >= floor_s * 0.9, (elapsed, floor_s)


def test_unpaced_bank_has_no_floor(tmp_path: Path) -> None:
    with bank_port(tmp_path) as (bank, at):
        assert bank.ports[0].state()["plugged"]
        ok(at.cmd("AT"))
