"""Correlates RING, +CRING and +CLIP into calls: one call, one message, however the lines arrive."""

from __future__ import annotations

from dataclasses import dataclass, field

CLIP_WAIT_S = 1.5
CALL_QUIET_S = 6.0


@dataclass
class Call:
    """One incoming call as seen so far."""

    started_at: float
    caller: str | None = None
    caller_type: int | None = None
    withheld: bool = False
    clip_seen: bool = False
    hung_up_at: float | None = None
    last_seen_at: float = field(default=0.0)


@dataclass(frozen=True)
class CallDecision:
    """What the worker must do now: hang up `call` (and record it) if `hang_up` is set."""

    call: Call
    hang_up: bool


class CallCorrelator:
    """Pure state machine fed with ring/CLIP events and the clock; the worker does the I/O.

    A call is hung up as soon as its caller ID (+CLIP) is known, or CLIP_WAIT_S after the first
    ring if no +CLIP comes. RING and +CLIP lines that keep arriving for CALL_QUIET_S after the
    hang-up belong to the same call and are absorbed.
    """

    def __init__(self, clip_wait_s: float = CLIP_WAIT_S, quiet_s: float = CALL_QUIET_S) -> None:
        self.clip_wait_s = clip_wait_s
        self.quiet_s = quiet_s
        self.current: Call | None = None

    def _active(self, now: float) -> Call | None:
        call = self.current
        if call is None:
            return None
        if call.hung_up_at is not None and now - call.last_seen_at > self.quiet_s:
            self.current = None
            return None
        return call

    def ring(self, now: float) -> CallDecision | None:
        call = self._active(now)
        if call is None:
            self.current = Call(started_at=now, last_seen_at=now)
            return None
        call.last_seen_at = now
        return None

    def clip(self, now: float, number: str, number_type: int | None, validity: int | None) -> CallDecision | None:
        call = self._active(now)
        if call is None:
            call = Call(started_at=now, last_seen_at=now)
            self.current = call
        if call.hung_up_at is not None and number and number != call.caller:
            # another caller right after a hang-up: a new call, not a repeat of the last one's lines
            call = Call(started_at=now, last_seen_at=now)
            self.current = call
        call.last_seen_at = now
        if call.hung_up_at is not None or call.clip_seen:
            return None
        call.clip_seen = True
        call.withheld = not number or (validity is not None and validity != 0)
        call.caller = None if call.withheld else number
        call.caller_type = number_type
        return CallDecision(call, hang_up=True)

    def tick(self, now: float) -> CallDecision | None:
        """Hang up a call whose caller ID never came; None when there is nothing to do."""
        call = self._active(now)
        if call is None or call.hung_up_at is not None or call.clip_seen:
            return None
        if now - call.started_at >= self.clip_wait_s:
            call.withheld = True
            return CallDecision(call, hang_up=True)
        return None

    def next_deadline(self) -> float | None:
        call = self.current
        if call is None or call.hung_up_at is not None or call.clip_seen:
            return None
        return call.started_at + self.clip_wait_s

    def hung_up(self, call: Call, now: float) -> None:
        call.hung_up_at = now
        call.last_seen_at = now
