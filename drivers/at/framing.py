"""Byte stream to AT lines: CR/LF framing, the `> ` prompt, junk dropped up to the next line end."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_BYTES = 4096

_LINE_END = re.compile(rb"[\r\n]")
# Printable ASCII and TAB; NUL bytes are removed before the check (modems send them on wake-up).
_JUNK = re.compile(rb"[^\t\x20-\x7e]")


@dataclass(frozen=True)
class Line:
    """A complete, printable, non-empty line with surrounding white space removed."""

    text: str


@dataclass(frozen=True)
class Prompt:
    """The `> ` prompt of AT+CMGS/AT+CMGW: the modem waits for the PDU."""


@dataclass(frozen=True)
class Junk:
    """Bytes dropped because their line held non-printable bytes or grew past the limit."""

    data: bytes


Event = Line | Prompt | Junk


class LineFramer:
    """Turns arbitrary byte chunks into events; never raises on any input.

    CR, LF and CRLF all end a line, empty lines are skipped. A line holding a non-printable byte
    is dropped whole (as Junk), so the stream resynchronises at the next line end. While
    `expect_prompt` is set, a partial line that is just `>` (optionally followed by a space) is
    reported as a Prompt at once, since the modem sends no line end after it.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.expect_prompt = False
        self._partial = b""
        self._discarding = False

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        pieces = _LINE_END.split(self._partial + data)
        self._partial = pieces.pop()
        for piece in pieces:
            if self._discarding:
                self._discarding = False
                if piece:
                    events.append(Junk(piece))
                continue
            event = self._line(piece)
            if event is not None:
                events.append(event)
        if len(self._partial) > self.max_line_bytes:
            events.append(Junk(self._partial))
            self._partial = b""
            self._discarding = True
        elif self.expect_prompt and not self._discarding and self._partial.strip(b" \x00") == b">":
            self._partial = b""
            events.append(Prompt())
        return events

    def _line(self, raw: bytes) -> Event | None:
        if len(raw) > self.max_line_bytes:
            return Junk(raw)
        cleaned = raw.replace(b"\x00", b"")
        if _JUNK.search(cleaned):
            return Junk(raw)
        text = cleaned.strip()
        if not text:
            return None
        return Line(text.decode("ascii"))
