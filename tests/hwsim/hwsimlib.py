"""A small AT client over a pty for hwsim's tests: send a command, collect lines up to the final result code."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import serial

from hwsim import Bank, Timing

FINAL = re.compile(r"^(OK|ERROR|NO CARRIER|COMMAND NOT SUPPORT|\+CME ERROR: .*|\+CMS ERROR: .*)$")
READ_TIMEOUT_S = 0.2
COMMAND_TIMEOUT_S = 5.0
FAST = Timing(ring_interval_s=0.3, sim_swap_s=0.1, reboot_s=0.2, boot_line_gap_s=0.01, cnma_timeout_s=0.5,
              split_gap_s=0.05, ussd_reply_s=0.05, noise_interval_s=0.2)


class AtPort:
    """Speaks AT to one pty; keeps every line it read (unsolicited ones too) in `seen`."""

    def __init__(self, path: str) -> None:
        self.ser = serial.serial_for_url(path, timeout=READ_TIMEOUT_S)
        self.buf = bytearray()
        self.seen: list[str] = []
        self.reads: list[bytes] = []

    def close(self) -> None:
        self.ser.close()

    def write(self, data: bytes) -> None:
        self.ser.write(data)

    def _fill(self) -> bool:
        data = self.ser.read(self.ser.in_waiting or 1)
        if data:
            self.reads.append(data)
            self.buf += data
        return bool(data)

    def _next_line(self, deadline: float) -> str | None:
        while True:
            while b"\r" in self.buf:
                idx = self.buf.find(b"\r")
                line = bytes(self.buf[:idx]).lstrip(b"\n")
                del self.buf[:idx + 1]
                text = line.decode("utf-8", "replace")
                if text:
                    self.seen.append(text)
                    return text
            if self.buf.endswith(b"> "):
                self.buf.clear()
                self.seen.append("> ")
                return "> "
            if time.monotonic() > deadline:
                return None
            self._fill()

    def line(self, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
        """The next non-empty line."""
        text = self._next_line(time.monotonic() + timeout_s)
        if text is None:
            raise TimeoutError(f"no line in {timeout_s} s")
        return text

    def cmd(self, line: str, timeout_s: float = COMMAND_TIMEOUT_S) -> list[str]:
        """Send `line`; the lines up to and including the final result code (echo removed)."""
        self.write(line.encode() + b"\r")
        return self.until_final(timeout_s, echo=line)

    def until_final(self, timeout_s: float = COMMAND_TIMEOUT_S, echo: str | None = None) -> list[str]:
        deadline = time.monotonic() + timeout_s
        out: list[str] = []
        while True:
            text = self._next_line(deadline)
            if text is None:
                raise TimeoutError(f"no final result code; got {out!r}")
            if echo is not None and text == echo:
                continue
            out.append(text)
            if FINAL.match(text):
                return out

    def prompt(self, line: str) -> None:
        self.write(line.encode() + b"\r")
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while True:
            text = self._next_line(deadline)
            if text is None:
                raise TimeoutError("no > prompt")
            if text == "> ":
                return

    def wait_line(self, pattern: str, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
        """Read until a line matching `pattern` (regex) arrives; earlier lines stay in `seen`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            text = self._next_line(deadline)
            if text is None:
                raise TimeoutError(f"no line matching {pattern!r}; seen {self.seen[-10:]!r}")
            if rx.search(text):
                return text

    def quiet(self, line: str = "ATE0") -> None:
        """Turn echo off and drop whatever was pending."""
        self.cmd(line)


def ok(lines: list[str]) -> list[str]:
    """The information lines of a response that must end in OK."""
    assert lines, "no response"
    assert lines[-1] == "OK", lines
    return lines[:-1]


@contextmanager
def bank_port(tmp_path: Path, profile: str = "generic", **kwargs: Any) -> Iterator[tuple[Bank, AtPort]]:
    """A one-port bank of `profile` with fast timings and an AT client on it, echo off."""
    kwargs.setdefault("timing", FAST)
    with Bank(tmp_path / "bank", ports=1, profiles=(profile,), **kwargs) as bank:
        port = AtPort(bank.ports[0].path)
        try:
            port.quiet()
            yield bank, port
        finally:
            port.close()
