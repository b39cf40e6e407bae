"""Correlates RING, +CRING, +CLIP, NO CARRIER and AT+CLCC answers into calls: one call, one message, one hang-up.

A pure state machine: the worker feeds it the modem's lines, each stamped with time.monotonic() on the reader
thread as it was read, and the stamp of the hang-up command's final result read the same way (so the two order
exactly); it asks AT+CLCC when told to and feeds the answer in. The rule:

1. A call starts with its first RING/+CRING/+CLIP. It is hung up as soon as its caller ID (+CLIP) is known, or
   CLIP_WAIT_S after the first ring when none comes (recorded as withheld). Lines while it rings are its own.
2. A line read before the hang-up's final result was read belongs to the call being hung up: the modem wrote it
   before it had processed the hang-up, and a modem without call waiting offers no second call while one rings.
   It is ignored.
3. A line read after that is checked with AT+CLCC (`check`, then `listed`): an incoming call listed (dir 1, stat
   4 incoming or 5 waiting) is a new call, hung up at once and recorded with the number AT+CLCC lists (the
   +CLIP's only when AT+CLCC gives none: a +CLIP read after a hang-up may be the last caller's repeat, arriving
   as the next call rings); none listed means the line was the hung-up call's last word, ignored. After a
   hang-up the modem refused, the same caller still listed is that call still ringing, not a new one.
4. A modem that refuses AT+CLCC: the line is a new call unless it could repeat the hung-up call, that is a RING,
   or a +CLIP with the hung-up call's number (empty if withheld), read within REPEAT_WINDOW_S of the hang-up's
   answer and before a NO CARRIER closed that call. Such a modem therefore takes a second call from the same
   number within REPEAT_WINDOW_S of the hang-up for a repeat (one message for the two); every other case is
   exact.
5. A new session asks AT+CLCC once it is up (`listed` with nothing pending): a call that started ringing while
   the port was away is hung up at once instead of at its next ring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simhost_drivers.modems.types import CallEntry

CLIP_WAIT_S = 1.5
REPEAT_WINDOW_S = 2.0


@dataclass
class Call:
    """One incoming call as seen so far; `hung_up_at` is when the hang-up's final result was read."""

    started_at: float
    caller: str | None = None
    caller_type: int | None = None
    withheld: bool = False
    clip_seen: bool = False
    hung_up_at: float | None = None
    hang_up_refused: bool = False
    closed_at: float | None = None  # a NO CARRIER read after the hang-up's answer

    def set_caller(self, number: str | None, number_type: int | None, validity: int | None) -> None:
        self.withheld = not number or (validity is not None and validity != 0)
        self.caller = None if self.withheld else number
        self.caller_type = number_type


@dataclass(frozen=True)
class CallDecision:
    """What the worker must do now: hang up `call` (and record it), or, with `check`, ask AT+CLCC and give the
    answer to CallCorrelator.listed."""

    call: Call
    hang_up: bool
    check: bool = False


class CallCorrelator:
    """Pure state machine fed with ring/CLIP/call-end events, AT+CLCC answers and the clock; the worker does the
    I/O (see the module docstring for the rule)."""

    def __init__(self, clip_wait_s: float = CLIP_WAIT_S, repeat_window_s: float = REPEAT_WINDOW_S) -> None:
        self.clip_wait_s = clip_wait_s
        self.repeat_window_s = repeat_window_s
        self.current: Call | None = None  # ringing, not hung up yet
        self.last: Call | None = None  # the last call hung up
        self.checking: Call | None = None  # a line waiting for the AT+CLCC answer

    def _answered_before(self, stamp: float) -> bool:
        """Whether a line stamped so was read before the last hang-up's final result (rule 2)."""
        return self.last is not None and self.last.hung_up_at is not None and stamp <= self.last.hung_up_at

    def _line(self, call: Call) -> CallDecision | None:
        """A RING (clip_seen False) or +CLIP seen as `call` while no call is ringing."""
        if self._answered_before(call.started_at):
            return None
        if self.last is None:
            self.current = call
            return CallDecision(call, hang_up=True) if call.clip_seen else None
        self.checking = call
        return CallDecision(call, hang_up=False, check=True)

    def ring(self, now: float) -> CallDecision | None:
        if self.current is not None or self.checking is not None:
            return None
        return self._line(Call(started_at=now))

    def clip(self, now: float, number: str, number_type: int | None, validity: int | None) -> CallDecision | None:
        call = self.current
        if call is not None:
            if call.clip_seen:
                return None
            call.clip_seen = True
            call.set_caller(number, number_type, validity)
            return CallDecision(call, hang_up=True)
        checking = self.checking
        if checking is not None:
            if not checking.clip_seen:  # the RING being checked has its caller ID now
                checking.clip_seen = True
                checking.set_caller(number, number_type, validity)
            return None
        call = Call(started_at=now, clip_seen=True)
        call.set_caller(number, number_type, validity)
        return self._line(call)

    def call_ended(self, now: float) -> None:
        """NO CARRIER: a call ended; read after the last hang-up's answer, it closes that call."""
        last = self.last
        if last is not None and last.hung_up_at is not None and now > last.hung_up_at and last.closed_at is None:
            last.closed_at = now

    def listed(self, entries: Sequence[CallEntry] | None, now: float) -> CallDecision | None:
        """The AT+CLCC answer (None: the modem refused it) to a `check`, or at the start of a session."""
        pending, self.checking = self.checking, None
        incoming = next((e for e in entries or () if e.incoming), None)
        if pending is None:
            if incoming is None or self.current is not None:
                return None
            pending = Call(started_at=now)
        if entries is None:
            if self._could_repeat(pending):
                return None
            self.current = pending
            return CallDecision(pending, hang_up=True) if pending.clip_seen else None
        if incoming is None or self._still_ringing(incoming):
            return None
        if incoming.number is not None or not pending.clip_seen:
            # the call listed now is who is calling: a +CLIP read after a hang-up may still be the last caller's
            # repeat, arriving just as the next call rings
            pending.clip_seen = True
            pending.set_caller(incoming.number, incoming.number_type, None)
        self.current = pending
        return CallDecision(pending, hang_up=True)

    def _could_repeat(self, call: Call) -> bool:
        """Rule 4: whether `call`'s line could be the hung-up call's, for a modem without AT+CLCC."""
        last = self.last
        if last is None or last.hung_up_at is None or last.closed_at is not None:
            return False
        if call.started_at - last.hung_up_at > self.repeat_window_s:
            return False
        return not call.clip_seen or (call.caller, call.withheld) == (last.caller, last.withheld)

    def _still_ringing(self, entry: CallEntry) -> bool:
        """A listed call that is the one whose hang-up the modem refused."""
        last = self.last
        if last is None or not last.hang_up_refused or last.closed_at is not None:
            return False
        number = entry.number or None
        return number == last.caller

    def tick(self, now: float) -> CallDecision | None:
        """Hang up a call whose caller ID never came; None when there is nothing to do."""
        call = self.current
        if call is None or call.clip_seen:
            return None
        if now - call.started_at >= self.clip_wait_s:
            call.clip_seen = True
            call.withheld = True
            return CallDecision(call, hang_up=True)
        return None

    def next_deadline(self) -> float | None:
        call = self.current
        if call is None or call.clip_seen:
            return None
        return call.started_at + self.clip_wait_s

    def hung_up(self, call: Call, answered_at: float, *, refused: bool = False) -> None:
        """The hang-up of `call` was answered (its final result read at `answered_at`); `refused` if not OK."""
        call.hung_up_at = answered_at
        call.hang_up_refused = refused
        self.last = call
        if self.current is call:
            self.current = None
