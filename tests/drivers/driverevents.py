"""Records a driver's events (sent on its reader thread) for tests to wait on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from simhost_drivers.modems import GenericDriver
from simhost_drivers.modems import events as ev

WAIT_S = 10.0


class Events:
    """Every event of `driver` as (kind, value), in arrival order."""

    def __init__(self, driver: GenericDriver) -> None:
        self.seen: list[tuple[str, Any]] = []
        self._cond = threading.Condition()
        driver.on_event = self._on_event

    def _on_event(self, event: ev.ModemEvent) -> None:
        match event:
            case ev.NewMessage(memory, index):
                self._add("new", (memory, index))
            case ev.DirectMessage(pdu) | ev.DirectReport(pdu):
                self._add("direct" if isinstance(event, ev.DirectMessage) else "report", pdu)
            case ev.StoredReport(memory, index):
                self._add("report", (memory, index))
            case ev.Ring():
                self._add("ring", None)
            case ev.CallerId(number, number_type, validity):
                self._add("clip", (number, number_type, validity))
            case ev.SimChanged(line):
                self._add("sim", line)
            case ev.Booted(line):
                self._add("boot", line)
            case ev.UssdReply(answer):
                self._add("ussd", answer)
            case ev.ConnectionLost(error):
                self._add("lost", error)
            case _:
                pass  # registration and call-end reports are not recorded here

    def _add(self, kind: str, value: Any) -> None:
        with self._cond:
            self.seen.append((kind, value))
            self._cond.notify_all()

    def wait(self, count: int, timeout_s: float = WAIT_S) -> list[tuple[str, Any]]:
        """The events once at least `count` have arrived (AssertionError on timeout)."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.seen) >= count, timeout_s), self.seen
            return list(self.seen)

    def wait_for(self, predicate: Callable[[list[tuple[str, Any]]], bool],
                 timeout_s: float = WAIT_S) -> list[tuple[str, Any]]:
        """The events once `predicate(events)` holds (AssertionError on timeout)."""
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.seen), timeout_s), self.seen
            return list(self.seen)

    def of(self, kind: str) -> list[Any]:
        with self._cond:
            return [value for k, value in self.seen if k == kind]
