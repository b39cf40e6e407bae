"""SIM rotation: on each port holding several registered slots, every slot comes online in turn for a while, its
storage drained before it leaves; a pinned slot stays; slots not online in time are reported."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import DEFAULT_ROTATION_SWITCHER, Settings, parse_switchers
from simhost.gateway.worker import DrainRequest, PortState, PortStatus, PortWorker
from simhost.registry.models import SimSlot
from simhost.sending.models import QUEUED, SENDING, Send
from simhost_drivers.modems.events import RegistrationState
from simhost_drivers.slots import SlotSwitcher, SwitchError, open_switcher

log = logging.getLogger("simhost.rotation")
REGISTERED = frozenset(str(state) for state in RegistrationState if state.registered)

SPREAD = 0.8  # of `every`, shared out among a port's slots; the rest is for switches and SIMs that fail
DRAIN_TIMEOUT_S = 120.0
SEND_WAIT_S = 300.0  # the longest a switch waits for the sends of the SIM about to leave
RELOAD_S = 10.0  # the registry (slots, pins) read again this often
RECORD_S = 60.0  # the online slot's last_online_at written this often
BUSY_RECHECK_S = 0.5
RETRY_AFTER_ABORT_S = 30.0
OVERHEAD_WEIGHT = 0.3  # of the newest switch's duration in the running estimate


@dataclass(frozen=True)
class RotationTimes:
    """How long each slot stays online at least, how often each must come online, and how long a SIM may take
    to register after its switch (seconds)."""

    online_s: float
    every_s: float
    register_s: float
    drain_s: float = DRAIN_TIMEOUT_S
    send_wait_s: float = SEND_WAIT_S
    reload_s: float = RELOAD_S

    @classmethod
    def from_settings(cls, settings: Settings) -> RotationTimes | None:
        """The times `settings` give in minutes and hours; None when rotation is off."""
        if settings.rotation_online_min <= 0:
            return None
        return cls(settings.rotation_online_min * 60, settings.rotation_every_h * 3600,
                   settings.rotation_register_min * 60)


def _aware(t: datetime | None) -> datetime | None:
    """`t` with its time zone: SQLite gives times back naive, in UTC."""
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def is_overdue(last_online_at: datetime | None, created_at: datetime, every_s: float, now: datetime) -> bool:
    """Whether a slot was not online within the last `every_s` (a slot never online: since it was registered)."""
    since = _aware(last_online_at or created_at)
    assert since is not None
    return now - since > timedelta(seconds=every_s)


def overdue_slots(s: Session, settings: Settings, now: datetime) -> set[int]:
    """The ids of the slots on rotated ports (two or more slots) not online within `rotation.every_h`."""
    if RotationTimes.from_settings(settings) is None:
        return set()
    rows = s.scalars(select(SimSlot).where(SimSlot.port.is_not(None))).all()
    per_port: dict[str | None, int] = {}
    for row in rows:
        per_port[row.port] = per_port.get(row.port, 0) + 1
    every_s = settings.rotation_every_h * 3600
    return {row.id for row in rows if per_port[row.port] > 1
            and is_overdue(row.last_online_at, row.created_at, every_s, now)}


def switchers_by_bank(settings: Settings, urls: dict[str, str]) -> Callable[[int], SlotSwitcher]:
    """The switcher for each bank, from `rotation.switcher`."""
    default, by_bank = parse_switchers(settings.rotation_switcher)
    if default == DEFAULT_ROTATION_SWITCHER and not by_bank:
        log.warning("SIM rotation is on (rotation.online_min %g) but no slot switcher is set (rotation.switcher "
                    "is none): no slot will be switched", settings.rotation_online_min)
    made = {bank: open_switcher(spec, urls) for bank, spec in by_bank.items()}
    fallback = open_switcher(default, urls)
    return lambda bank: made.get(bank, fallback)


def _same_sim(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.rstrip("fF") == b.rstrip("fF")


def _registered(status: PortStatus) -> bool:
    return status.registration in REGISTERED


class Phase(StrEnum):
    """Where a port's rotation stands."""

    ONLINE = "online"  # on a slot (or waiting to learn which)
    DRAINING = "draining"
    SWITCHING = "switching"


@dataclass
class SlotState:
    """A registered slot as the scheduler follows it."""

    id: int
    bank: int
    slot: int
    iccid: str
    msisdn: str
    pinned: bool
    created_at: datetime
    last_online_at: datetime | None
    recorded_at: datetime | None = None  # when last_online_at was last written
    tried: float = float("-inf")  # monotonic: when a switch to it last began
    failed: str | None = None  # why it did not come online in its last turn
    warned_at: float | None = None

    def label(self) -> str:
        return f"{self.msisdn} (bank {self.bank} slot {self.slot})"


@dataclass
class PortRotation:
    """One port's slots and where its rotation stands."""

    worker: PortWorker
    slots: list[SlotState] = field(default_factory=list)
    phase: Phase = Phase.ONLINE
    current: SlotState | None = None
    since: float = 0.0  # monotonic: when `current` came online (or the phase began)
    target: SlotState | None = None
    deadline: float = 0.0
    drain: DrainRequest | None = None
    seen_iccid: str | None = None  # the ICCID the worker last reported ready on
    busy_since: float | None = None
    overhead_s: float = 0.0  # running estimate of a switch's duration

    @property
    def name(self) -> str:
        return self.worker.config.name


class RotationScheduler(threading.Thread):
    """One per gateway process, over its ports' workers: keeps each slot online at least `online_s` every
    `every_s`, never leaves a pinned slot, drains a SIM before it leaves and reports slots not online in time.

    Each slot stays about SPREAD * every / slots (at least online_s), least recently tried first; a switch waits
    for the sends of the SIM about to leave (up to SEND_WAIT_S), asks the worker for a full sweep, switches, and
    waits for the worker's session to come back on the new ICCID, registered. A SIM not registered within
    `register_s` is skipped for the round.
    """

    def __init__(self, workers: Sequence[PortWorker], engine: Engine, switcher_for: Callable[[int], SlotSwitcher],
                 times: RotationTimes, *, on_change: Callable[[str], None] | None = None) -> None:
        super().__init__(name="simhost-rotation", daemon=True)
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.switcher_for = switcher_for
        self.times = times
        self.on_change = on_change
        self.ports = {w.config.name: PortRotation(w) for w in workers}
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._overdue: dict[str, list[int]] = {}

    # ---- from other threads --------------------------------------------------------------------------------

    def poke(self, _what: PortStatus | DrainRequest | None = None) -> None:
        """Something changed (a port's status, a sweep done): look again now."""
        self.wake.set()

    def overdue(self, port: str) -> list[int]:
        """The slot numbers of `port` not online in time (for its status)."""
        with self._lock:
            return list(self._overdue.get(port, ()))

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.is_alive():
            self.join()

    # ---- the scheduler's thread ----------------------------------------------------------------------------

    def run(self) -> None:
        next_reload = 0.0
        for port in self.ports.values():
            port.since = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            try:
                if now >= next_reload:
                    self._reload()
                    next_reload = now + self.times.reload_s
                wait = next_reload - now
                for port in self.ports.values():
                    wait = min(wait, self._step(port, time.monotonic()))
                self._report(time.monotonic())
            except Exception:
                log.exception("rotation step failed; trying again")
                wait = 1.0
            self.wake.wait(max(0.05, wait))
            self.wake.clear()

    def _reload(self) -> None:
        with self.sessions() as s:
            rows = s.scalars(select(SimSlot).where(SimSlot.port.in_(list(self.ports)))
                             .order_by(SimSlot.port, SimSlot.slot)).all()
        for port in self.ports.values():
            known = {slot.id: slot for slot in port.slots}
            fresh = []
            for row in rows:
                if row.port != port.name:
                    continue
                last = _aware(row.last_online_at)
                slot = known.get(row.id) or SlotState(row.id, row.bank, row.slot, row.iccid, row.msisdn, row.pinned,
                                                     _aware(row.created_at) or datetime.now(UTC), last)
                slot.bank, slot.slot, slot.iccid, slot.msisdn, slot.pinned = (row.bank, row.slot, row.iccid,
                                                                              row.msisdn, row.pinned)
                if last is not None and (slot.last_online_at is None or last > slot.last_online_at):
                    slot.last_online_at = last  # another process had it online since
                fresh.append(slot)
            port.slots = fresh
            if port.current is not None and port.current not in fresh:
                port.current = None

    def _step(self, port: PortRotation, now: float) -> float:
        """Move `port`'s rotation on; how long until it wants looking at again."""
        if len(port.slots) < 2:
            return self.times.reload_s
        if port.phase is Phase.DRAINING:
            return self._step_draining(port, now)
        if port.phase is Phase.SWITCHING:
            return self._step_switching(port, now)
        return self._step_online(port, now)

    def _step_online(self, port: PortRotation, now: float) -> float:
        status = port.worker.status
        ready = status.state is PortState.READY
        if ready and status.iccid != port.seen_iccid:
            # what the worker reports only counts when it changes: a session that has not noticed a switch yet
            # still shows the SIM that left
            port.seen_iccid = status.iccid
            seen = next((slot for slot in port.slots if _same_sim(slot.iccid, status.iccid)), None)
            if seen is not port.current:
                port.current = seen  # switched by someone else, or the port just started
                if seen is None or seen.failed is None:
                    port.since = now
                if seen is not None:
                    seen.tried = max(seen.tried, now)  # its turn is now: the others come first
        elif port.current is None and not ready and now - port.since < self.times.register_s:
            return self.times.register_s - (now - port.since)  # the port is starting: wait to learn its slot
        current = port.current
        if current is not None and ready and _same_sim(status.iccid, current.iccid) and _registered(status):
            if current.failed is not None or current.last_online_at is None:
                current.failed = None
                self._came_online(port, current)
            else:
                self._still_online(current)
        if current is not None and current.pinned:
            return self.times.reload_s
        target = self._pinned_elsewhere(port, now)
        if target is None:
            dwell = self._dwell(port)
            if current is not None and now - port.since < dwell:
                return port.since + dwell - now
            target = min((slot for slot in port.slots if slot is not current),
                         key=lambda slot: (slot.tried, slot.slot))
        ready_here = ready and current is not None
        if ready_here and self._sends_waiting(port.name, status.iccid):
            if port.busy_since is None:
                port.busy_since = now
                log.info("port %s: switching to slot %d waits for the sends of %s", port.name, target.slot,
                         current.label() if current else "its SIM")
            if now - port.busy_since < self.times.send_wait_s:
                return BUSY_RECHECK_S
        port.busy_since = None
        port.target, port.since = target, now
        if not ready_here:
            return self._switch(port, now)  # no session to sweep (a SIM that failed, a port starting)
        port.phase, port.deadline = Phase.DRAINING, now + self.times.drain_s
        port.drain = port.worker.drain_for_switch(self.times.drain_s + self.times.register_s, self.poke)
        return self.times.drain_s

    def _pinned_elsewhere(self, port: PortRotation, now: float) -> SlotState | None:
        pinned = [slot for slot in port.slots if slot.pinned]
        if not pinned or port.current in pinned:
            return None
        chosen = pinned[0]
        if chosen.failed is not None and now - chosen.tried < self._dwell(port) + self.times.register_s:
            return None  # it failed to come online: the others take a turn before it is tried again
        return chosen

    def _step_draining(self, port: PortRotation, now: float) -> float:
        drain = port.drain
        assert drain is not None
        if not drain.done.is_set():
            if now < port.deadline:
                return port.deadline - now
            error: str | None = f"no sweep within {self.times.drain_s:g} s"
        else:
            error = drain.error
        port.drain = None
        if error is not None:
            log.warning("port %s: the switch to slot %d is put off: the SIM could not be drained (%s)", port.name,
                        port.target.slot if port.target else 0, error)
            port.worker.release_sends()
            port.phase, port.target = Phase.ONLINE, None
            port.since = now - max(0.0, self._dwell(port) - RETRY_AFTER_ABORT_S)
            return RETRY_AFTER_ABORT_S
        if port.current is not None and port.current.failed is None:
            self._record(port.current, datetime.now(UTC))  # online until now
        return self._switch(port, now)

    def _dwell(self, port: PortRotation) -> float:
        return max(self.times.online_s, SPREAD * self.times.every_s / len(port.slots) - port.overhead_s)

    def _switch(self, port: PortRotation, now: float) -> float:
        target = port.target
        assert target is not None
        target.tried = now
        switcher = self.switcher_for(target.bank)
        try:
            switcher.switch(port.name, target.slot)
        except SwitchError as exc:
            target.failed = str(exc)
            log.warning("port %s: cannot switch to slot %d (%s): %s", port.name, target.slot, switcher.spec, exc)
            port.worker.release_sends()
            port.phase, port.target, port.since = Phase.ONLINE, None, now
            return self.times.online_s
        log.info("port %s: switched to slot %d, %s", port.name, target.slot, target.label())
        port.phase, port.deadline, port.current = Phase.SWITCHING, now + self.times.register_s, None
        return self.times.register_s

    def _step_switching(self, port: PortRotation, now: float) -> float:
        target = port.target
        assert target is not None
        status = port.worker.status
        if status.state is PortState.READY and _same_sim(status.iccid, target.iccid) and _registered(status):
            port.overhead_s += OVERHEAD_WEIGHT * ((now - port.since) - port.overhead_s)
            port.phase, port.current, port.target, port.since = Phase.ONLINE, target, None, now
            port.seen_iccid = status.iccid
            target.failed = None
            self._came_online(port, target)
            return 0.0
        if now < port.deadline:
            return port.deadline - now
        target.failed = (f"not online {self.times.register_s:g} s after the switch (port {status.state}, ICCID "
                         f"{status.iccid}, registration {status.registration})")
        log.warning("port %s: the SIM in slot %d, %s, is skipped this round: %s", port.name, target.slot,
                    target.label(), target.failed)
        # the port holds that SIM now, whatever a session that has not noticed says: move on at once
        port.phase, port.target, port.current, port.since = Phase.ONLINE, None, target, now - self._dwell(port)
        return 0.0

    def _came_online(self, port: PortRotation, slot: SlotState) -> None:
        slot.warned_at = None
        self._record(slot, datetime.now(UTC))
        if self.on_change is not None:
            self.on_change(port.name)

    def _still_online(self, slot: SlotState) -> None:
        now = datetime.now(UTC)
        if slot.recorded_at is None or now - slot.recorded_at >= timedelta(seconds=RECORD_S):
            self._record(slot, now)
        slot.last_online_at = now

    def _record(self, slot: SlotState, when: datetime) -> None:
        slot.last_online_at = slot.recorded_at = when
        with self.sessions.begin() as s:
            # the gateway's observation, not a registry change: updated_at stays as it was
            s.execute(update(SimSlot).where(SimSlot.id == slot.id)
                      .values(last_online_at=when, updated_at=SimSlot.updated_at))

    def _sends_waiting(self, port: str, iccid: str | None) -> bool:
        """Whether a send is queued or on the air on `port` from the SIM it holds now."""
        with self.sessions() as s:
            return s.scalar(select(Send.id).where(
                Send.port == port, Send.state.in_((QUEUED, SENDING)),
                or_(Send.iccid.is_(None), Send.iccid == iccid)).limit(1)) is not None

    def _report(self, now: float) -> None:
        """Each slot not online within `every_s`: a warning once per period, and in its port's status."""
        wall = datetime.now(UTC)
        changed = []
        for port in self.ports.values():
            late = []
            for slot in port.slots if len(port.slots) > 1 else ():
                online = slot is port.current and port.phase is Phase.ONLINE
                if online or not is_overdue(slot.last_online_at, slot.created_at, self.times.every_s, wall):
                    continue
                late.append(slot.slot)
                if slot.warned_at is None or now - slot.warned_at >= self.times.every_s:
                    slot.warned_at = now
                    last = slot.last_online_at.isoformat() if slot.last_online_at else "never"
                    log.warning("port %s: slot %d, %s, was not online within %g s (last online: %s)%s", port.name,
                                slot.slot, slot.label(), self.times.every_s, last,
                                f": {slot.failed}" if slot.failed else "")
            with self._lock:
                if self._overdue.get(port.name, []) != late:
                    self._overdue[port.name] = late
                    changed.append(port.name)
        if self.on_change is not None:
            for name in changed:
                self.on_change(name)
