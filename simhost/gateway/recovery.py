"""The recovery ladder of one port: ever stronger steps for a modem that stopped answering, each taken only when the
one before did not bring it back (watchdog AT, reopen, the family's reset command, USB reset, hub port power cycle)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from simhost.backoff import Backoff
from simhost_drivers.at.errors import AtError
from simhost_drivers.modems.probe import probe_port, reset_port
from simhost_drivers.modems.types import ModemDriver
from simhost_drivers.physical import PhysicalControl, PhysicalError, UsbPlace

log = logging.getLogger("simhost.recovery")


class Step(StrEnum):
    """The ladder's steps, weakest first."""

    WATCHDOG = "watchdog"  # a plain AT on the line that failed
    REOPEN = "reopen"  # close the port, open it again, initialise
    RESET = "reset"  # the family's reset command (AT+CFUN=1,1; AT^RESET first on Huawei)
    USB_RESET = "usb-reset"  # USBDEVFS_RESET: the device leaves the bus and enumerates again
    POWER_CYCLE = "power-cycle"  # the hub port switched off and on


LADDER = tuple(Step)


@dataclass(frozen=True)
class LadderTimings:
    """How long the ladder waits; tests shorten them.

    After a step that acts on the modem the next session waits for it to come back (`*_settle_s`). A port back for
    `healthy_s` starts at the bottom again the next time it fails; one that fails sooner goes on from the step above
    the one that brought it back. Once every step failed the port is dead: it is reopened with the worker's backoff,
    and the whole ladder is climbed again after `retry_first_s`, doubling up to `retry_max_s`.
    """

    reset_timeout_s: float = 5.0
    reset_settle_s: float = 20.0
    usb_settle_s: float = 10.0
    power_settle_s: float = 20.0
    healthy_s: float = 600.0
    retry_first_s: float = 1800.0
    retry_max_s: float = 4 * 3600.0


@dataclass
class RecoveryStatus:
    """What the port status shows of the ladder: the last step taken, how often each was taken, and when."""

    step: Step | None = None
    counts: dict[str, int] = field(default_factory=dict)
    helped: dict[str, int] = field(default_factory=dict)
    last_at: str | None = None
    gave_up: bool = False

    def to_json(self) -> dict[str, object]:
        return {"step": None if self.step is None else str(self.step), "counts": dict(self.counts),
                "helped": dict(self.helped), "last_at": self.last_at, "gave_up": self.gave_up}


@dataclass(frozen=True)
class Plan:
    """What the worker does after a failed session: wait `delay_s` (None: its own backoff) before the next one."""

    delay_s: float | None


def _close(line: ModemDriver | None) -> None:
    if line is not None:
        try:
            line.close()
        except Exception as exc:
            log.debug("closing the failed session's driver: %s", exc)


def _probe_imei(url: str) -> str | None:
    return probe_port(url).imei


def _reset(url: str, family: str | None, timeout_s: float) -> str | None:
    return reset_port(url, family, timeout_s=timeout_s)


class RecoveryLadder:
    """The ladder of one port, driven by its worker: `failed()` after each failed session (the line still open),
    `ready()` when a session is ready, `device()` for the tty to open.

    "Helped" means the next session got ready: the modem answered and initialised again. The physical steps need a
    PhysicalControl and the port's USB place, learnt while the port was ready; without them they are passed over.
    After a USB reset or power cycle, or when the tty is gone, the modem is looked for at its USB place and taken
    where the IMEI is the one it had.
    """

    def __init__(self, port: str, url: str, physical: PhysicalControl | None = None,
                 timings: LadderTimings = LadderTimings(), *, stopping: threading.Event | None = None,
                 identify: Callable[[str], str | None] = _probe_imei,
                 reset: Callable[[str, str | None, float], str | None] = _reset) -> None:
        self.port = port
        self.url = url
        self.physical = physical
        self.timings = timings
        self.stopping = stopping or threading.Event()
        self.identify = identify
        self.reset = reset
        self.current = url  # the tty the port is on now (another after a renumbering)
        self.status = RecoveryStatus()
        self.place: UsbPlace | None = None
        self.imei: str | None = None
        self.family: str | None = None
        self._next = 0  # index in LADDER of the next step to take
        self._pending: Step | None = None  # the step whose outcome the next session tells
        self._relocate = False
        self._ready_at: float | None = None
        self._quiet_until = 0.0
        self._retry = Backoff(first_s=timings.retry_first_s, max_s=timings.retry_max_s, jitter=0.1, stable_s=0.0)
        self._retry_at: float | None = None

    @property
    def gave_up(self) -> bool:
        return self.status.gave_up

    # ---- what the worker tells ---------------------------------------------------------------------

    def ready(self, imei: str | None, family: str | None) -> None:
        """A session is ready on `current`: the step taken helped; remember where and what the modem is."""
        self._ready_at = time.monotonic()
        step, self._pending = self._pending, None
        if step is not None:
            self.status.helped[str(step)] = self.status.helped.get(str(step), 0) + 1
            log.warning("port %s: recovery: back after step %s", self.port, step,
                        extra={"port": self.port, "step": str(step)})
        self.status.gave_up = False
        self._retry_at = None
        self._retry.succeeded()
        self.imei = imei or self.imei
        self.family = family or self.family
        if self.physical is not None:
            self.place = self.physical.where(self.current) or self.place

    def restarting(self, for_s: float | None = None) -> None:
        """The worker restarts the modem on purpose: failures while it does are not a hang."""
        self._quiet_until = time.monotonic() + (self.timings.reset_settle_s if for_s is None else for_s)

    def failed(self, line: ModemDriver | None) -> Plan:
        """A session failed; `line` is its driver if the port was open (the ladder closes it). Take the next step
        that can be taken."""
        try:
            return self._failed(line)
        finally:
            _close(line)

    def _failed(self, line: ModemDriver | None) -> Plan:
        now = time.monotonic()
        if self._ready_at is not None and now - self._ready_at >= self.timings.healthy_s:
            self._next = 0  # it ran well: a new failure starts at the bottom
        self._ready_at = None
        if now < self._quiet_until:
            return Plan(None)
        if self.status.gave_up:
            if self._retry_at is not None and now < self._retry_at:
                return Plan(None)
            log.warning("port %s: recovery: climbing the ladder again", self.port)
            self.status.gave_up = False
            self._next = 0
        while self._next < len(LADDER):
            step = LADDER[self._next]
            self._next += 1
            if self.stopping.is_set():
                return Plan(0.0)
            taken = self._take(step, line)
            if taken is not None:
                return taken
        return self._give_up()

    def device(self) -> str:
        """The tty to open for the next session: where the modem was found again, if it had to be looked for."""
        if self.place is not None and self.physical is not None and (
                self._relocate or not os.path.exists(self.current)):
            self._locate(self.physical, self.place)
        return self.current

    # ---- the steps ---------------------------------------------------------------------------------

    def _count(self, step: Step, detail: str = "") -> None:
        n = self.status.counts.get(str(step), 0) + 1
        self.status.counts[str(step)] = n
        self.status.step = step
        self.status.last_at = datetime.now(UTC).isoformat()
        log.warning("port %s: recovery step %s (%d so far)%s", self.port, step, n, f": {detail}" if detail else "",
                    extra={"port": self.port, "step": str(step), "count": n})

    def _take(self, step: Step, line: ModemDriver | None) -> Plan | None:
        """Take `step`: the plan for the next session, or None when it cannot be taken or did nothing (climb on)."""
        if step is Step.WATCHDOG:
            if line is None:
                return None
            try:
                line.ping()
            except (AtError, OSError) as exc:
                self._count(step, f"no answer ({exc})")
                _close(line)  # the steps above open the port themselves, and it is locked while open
                return None
            self._count(step, "the modem answers: not wedged, the session starts again")
            self.status.helped[str(step)] = self.status.helped.get(str(step), 0) + 1
            self._next = 0
            return Plan(None)
        self._pending = step
        if step is Step.REOPEN:
            self._count(step, self.current)
            return Plan(None)
        if step is Step.RESET:
            return self._reset_step()
        return self._physical_step(step)

    def _reset_step(self) -> Plan | None:
        try:
            command = self.reset(self.current, self.family, self.timings.reset_timeout_s)
        except (AtError, OSError) as exc:  # the tty is gone or cannot be opened: nothing to send it on
            log.info("port %s: recovery: no reset command sent: %s", self.port, exc)
            return None
        self._count(Step.RESET, f"{command} accepted" if command else "no reset command answered")
        return Plan(self.timings.reset_settle_s)

    def _physical_step(self, step: Step) -> Plan | None:
        physical, place = self.physical, self.place
        able = physical is not None and (physical.can_usb_reset() if step is Step.USB_RESET
                                         else physical.can_power_cycle())
        if physical is None or place is None or not able:
            log.info("port %s: recovery: step %s not available (%s)", self.port, step,
                     "not configured" if physical is not None and place is not None else "no USB place known")
            return None
        try:
            if step is Step.USB_RESET:
                physical.usb_reset(place)
            else:
                physical.power_cycle(place)
        except PhysicalError as exc:
            self._count(step, f"failed: {exc}")
            return None
        self._count(step, f"USB {place}")
        self._relocate = True
        return Plan(self.timings.usb_settle_s if step is Step.USB_RESET else self.timings.power_settle_s)

    def _give_up(self) -> Plan:
        self._pending = None
        self._next = 0
        delay = self._retry.failed(0.0)
        self._retry_at = time.monotonic() + delay
        self.status.gave_up = True
        log.warning("port %s: recovery: every step failed; the port is dead, reopened now and then, and the ladder "
                    "is climbed again in %.0f s", self.port, delay, extra={"port": self.port})
        return Plan(None)

    def _locate(self, physical: PhysicalControl, place: UsbPlace) -> None:
        """Find the modem again at its USB place, by its IMEI."""
        for candidate in physical.locate(place):
            try:
                imei = self.identify(candidate)
            except (AtError, OSError) as exc:
                log.info("port %s: recovery: %s at USB %s does not answer: %s", self.port, candidate, place, exc)
                continue
            if self.imei is None or imei == self.imei:
                self._relocate = False
                if candidate != self.current:
                    log.warning("port %s: recovery: the modem (IMEI %s) is now %s at USB %s", self.port, imei,
                                candidate, place, extra={"port": self.port, "device": candidate})
                self.current = candidate
                return
