"""Incoming calls: ringing with RING/+CLIP, answering, hanging up (ATH, +CHUP, +CHLD), AT+CLCC, and the call faults."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hwsim.commands import Cmd, CmeError, FinalError, PlainError, handles
from hwsim.core import ModemCore, address_type
from hwsim.loop import Timer


@dataclass
class Call:
    id: int
    caller: str | None
    withheld: bool
    rings: int
    rings_sent: int = 0
    first_ring_at: float | None = None
    hung_up_at: float | None = None
    hangup_command: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    state: str = "ringing"  # ringing | active | hung-up | missed | rejected
    timer: Timer | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "caller": self.caller, "withheld": self.withheld, "rings": self.rings,
                "rings_sent": self.rings_sent, "first_ring_at": self.first_ring_at,
                "hung_up_at": self.hung_up_at, "hangup_command": self.hangup_command,
                "answered_at": self.answered_at, "ended_at": self.ended_at, "state": self.state}


class CallsRoom(ModemCore):
    """Calls on the active SIM, rung until answered, hung up or missed."""

    _calls: list[Call]
    _call_seq: int

    # ---- ringing (loop thread) -----------------------------------------------------------------------------

    def _start_call(self, caller: str | None, rings: int, withheld: bool) -> int:
        self._call_seq += 1
        call = Call(self._call_seq, caller, withheld, rings)
        self._calls.append(call)
        busy = any(c.state in ("ringing", "active") for c in self._calls if c is not call)
        if busy or not self._sim_present or not self.registered or not self._powered:
            # the network answers the caller busy / unreachable; nothing reaches the TE
            call.state = "rejected"
            call.ended_at = time.time()
        else:
            self._ring(call)
        self._changed()
        return call.id

    def _ring(self, call: Call) -> None:
        call.timer = None
        if call.state != "ringing":
            return
        if call.rings_sent >= call.rings:
            self._end_call(call, "missed", report=True)
            return
        if call.first_ring_at is None:
            call.first_ring_at = time.time()
        call.rings_sent += 1
        if not self._faults.stuck and self._powered and not self._booting:
            self._write_ring(call)
        call.timer = self._later(self.timing.ring_interval_s, lambda: self._ring(call))
        self._changed()

    def ring_lines(self, call: Call) -> tuple[list[str], list[str]]:
        """The ring indication and the caller-id lines of one ring."""
        s = self._settings
        ring = [] if (self.DIALECT.clip_without_ring or not s.ring_urc) else (
            ["+CRING: VOICE"] if s.crc else ["RING"])
        clip = [self.clip_line(call)] if s.clip else []
        return ring, clip

    def clip_line(self, call: Call) -> str:
        if call.withheld or call.caller is None:
            number, kind, validity = "", 128, 1
        else:
            number, kind, validity = call.caller, address_type(call.caller), 0
        if self.DIALECT.clip_style == "long":
            return f'+CLIP: "{number}",{kind},"",0,"",{validity}'
        return f'+CLIP: "{number}",{kind},,,,{validity}'

    def _write_ring(self, call: Call) -> None:
        ring, clip = self.ring_lines(call)
        if self.DIALECT.split_ring_clip and ring and clip:
            for line in ring:
                self._urc(line)

            def second_chunk() -> None:
                for line in clip:
                    self._urc(line)
            self._later(self.timing.split_gap_s, second_chunk)
            return
        for line in ring + clip:
            self._urc(line)

    def _end_call(self, call: Call, state: str, *, report: bool, command: str | None = None) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        now = time.time()
        call.state = state
        call.ended_at = now
        if command is not None:
            call.hung_up_at = now
            call.hangup_command = command
        if report and self._powered and not self._faults.stuck:
            for line in self.DIALECT.call_end_lines:
                self._urc(line)
        self._changed()

    def _current_call(self) -> Call | None:
        return next((c for c in reversed(self._calls) if c.state in ("ringing", "active")), None)

    def _hang_up(self, command: str) -> None:
        call = self._current_call()
        if call is None:
            return
        repeat, self._faults.clip_repeat = self._faults.clip_repeat, None
        if repeat is not None:
            # the ring timer fired as the hang-up came in: one more RING/+CLIP of the call being released
            ring, clip = self.ring_lines(call)
            lines = ring + clip

            def write_repeat() -> None:
                for line in lines:
                    self._urc(line)
            if repeat == "after":
                self._later(0.0, write_repeat)  # after the hang-up's final result code
            else:
                write_repeat()
        self._end_call(call, "hung-up", report=False, command=command)
        if self._faults.late_no_carrier:
            self._faults.late_no_carrier = False
            self._late_call_end = self.DIALECT.call_end_lines

    # ---- commands ------------------------------------------------------------------------------------------

    @handles("H")
    def _ath(self, cmd: Cmd) -> list[str]:
        if cmd.arg not in ("", "0"):
            raise PlainError(cmd.text)
        if self._settings.cvhu != 1:
            self._hang_up("ATH")
        return []

    @handles("A")
    def _ata(self, cmd: Cmd) -> list[str]:
        call = self._current_call()
        if call is None or call.state != "ringing":
            raise FinalError("NO CARRIER")
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        call.state = "active"
        call.answered_at = time.time()
        self._changed()
        return []

    @handles("D")
    def _atd(self, cmd: Cmd) -> list[str]:
        raise FinalError("NO CARRIER")

    @handles("+CLIP")
    def _clip(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f"+CLIP: {s.clip},1"]
        lines, s.clip = self._flag(cmd, s.clip, 1, "+CLIP", "(0,1)")
        return lines

    @handles("+CRC")
    def _crc(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.crc = self._flag(cmd, s.crc, 1, "+CRC", "(0,1)")
        return lines

    @handles("+CCWA")
    def _ccwa(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "set":
            s.ccwa = cmd.int_param(0, 0, 1, 0)
            mode = cmd.int_param(1, 0, 2, 0)
            if mode == 2:
                return ["+CCWA: 1,1"]
            return []
        lines, s.ccwa = self._flag(cmd, s.ccwa, 1, "+CCWA", "(0,1)")
        return lines

    @handles("+CVHU")
    def _cvhu(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cvhu = self._flag(cmd, s.cvhu, 2, "+CVHU")
        return lines

    @handles("+CHUP")
    def _chup(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self._hang_up("AT+CHUP")
        return []

    @handles("+CHLD")
    def _chld(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CHLD: (0,1,1x,2,2x,3,4)"]
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        value = cmd.params()[0]
        if not value or not value.isdigit() or value[0] not in "01234":
            raise CmeError(3)
        if value[0] in "01":
            self._hang_up(f"AT+CHLD={value}")
        return []

    @handles("+CLCC")
    def _clcc(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        out = []
        current = [c for c in self._calls if c.state in ("ringing", "active")]
        # <id> numbers the calls in progress from 1 (27.007 §7.18, the index AT+CHLD takes), not all calls ever
        for index, c in enumerate(current, start=1):
            stat = 4 if c.state == "ringing" else 0
            number = "" if c.withheld or c.caller is None else c.caller
            out.append(f'+CLCC: {index},1,{stat},0,0,"{number}",{address_type(number) if number else 128}')
        return out

    @handles("+CPAS")
    def _cpas(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CPAS: (0-5)"]
        call = self._current_call()
        status = 0 if call is None else (3 if call.state == "ringing" else 4)
        return [f"+CPAS: {status}"]
