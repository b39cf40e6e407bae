"""Records a driver's event callbacks (called on its reader thread) for tests to wait on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from simhost_drivers.modems import GenericDriver

WAIT_S = 10.0


class Events:
    """Every callback of `driver` as (kind, value), in arrival order."""

    def __init__(self, driver: GenericDriver) -> None:
        self.seen: list[tuple[str, Any]] = []
        self._cond = threading.Condition()
        driver.on_new_message = lambda mem, index: self._add("new", (mem, index))
        driver.on_direct_message = lambda pdu: self._add("direct", pdu)
        driver.on_status_report = lambda item: self._add("report", item)
        driver.on_ring = lambda: self._add("ring", None)
        driver.on_clip = lambda number, ntype, valid: self._add("clip", (number, ntype, valid))
        driver.on_sim_change = lambda state: self._add("sim", state)
        driver.on_boot = lambda line: self._add("boot", line)
        driver.on_connection_lost = lambda exc: self._add("lost", exc)

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
