"""One port worker thread: drives one modem through its lifecycle, reads SMS and calls, never loses one."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from simhost.backoff import Backoff
from simhost.config import UssdCheck
from simhost.gateway.calls import CallCorrelator, CallDecision
from simhost.gateway.recovery import LadderTimings, RecoveryLadder, RecoveryStatus
from simhost.gateway.spool import PortIdentity, Spool, StoreResult
from simhost.gateway.ussd import UssdDesk
from simhost.metrics import Metrics
from simhost.sending.queue import TRANSIENT_SEND_CODES, Claimed, SendQueue
from simhost_drivers.at.errors import AtError, CommandError, MemoryFullError
from simhost_drivers.modems import events as ev
from simhost_drivers.modems import open_driver
from simhost_drivers.modems.events import ModemEvent
from simhost_drivers.modems.types import ModemDriver, ModemInfo
from simhost_drivers.pdu.encoder import encode_submit
from simhost_drivers.pdu.errors import PduError
from simhost_drivers.physical import PhysicalControl

log = logging.getLogger("simhost.worker")

# An idle port's line is left alone: each health tick asks the SIM's ICCID (a hung modem times out, a slot
# switch shows) and one more thing in turn (HEALTH_ROTATION); every message memory is swept now and then. With the
# defaults an idle port sees about 2.2 AT commands a minute (ICCID, the item in turn, a sweep's share).
HEALTH_INTERVAL_S = 60.0
SWEEP_INTERVAL_S = 1800.0
WATCHDOG_IDLE_S = 60.0  # a plain AT when no command at all went to the modem for this long
BACKOFF_FIRST_S = 2.0  # after the first failed session; doubling up to BACKOFF_MAX_S
BACKOFF_MAX_S = 60.0
STORAGE_HIGH_WATER = 0.8
HEALTH_ROTATION = ("listing", "notifications", "signal", "registration", "storage")
# A modem that stays unregistered this long is restarted (AT+CFUN=1,1), at most once per RESET_INTERVAL_S: modems
# stuck searching for the network are a common failure that only a radio restart clears.
RESET_UNREGISTERED_AFTER_S = 600.0
RESET_INTERVAL_S = 3600.0
DEAD_AFTER_FAILURES = 10  # consecutive failed sessions before the port is reported dead (it keeps retrying)
SEND_GAP_S = 3.0  # between two sends on one SIM: operators block SIMs that send in quick succession
SEND_RETRY_S = 10.0  # before the first new try after a transient refusal, doubling
SEND_TRIES = 5
SEND_PAUSE_AFTER_FAULT_S = 60.0
STABLE_SESSION_S = 60.0  # a session ready this long counts as a success: the next failure is the first again


class PortState(StrEnum):
    """The worker's lifecycle states."""

    PROBING = "probing"
    INITIALIZING = "initializing"
    READY = "ready"
    DEGRADED = "degraded"
    DEAD = "dead"
    STOPPED = "stopped"


@dataclass
class PortStatus:
    """What the worker reports about its port (published retained on the status topic)."""

    port: str
    state: PortState = PortState.PROBING
    iccid: str | None = None
    imsi: str | None = None
    imei: str | None = None
    msisdn: str | None = None
    operator: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    driver: str | None = None
    signal_dbm: int | None = None
    registration: str | None = None
    storage_used: int | None = None  # of the receive storage, `storage_memory`
    storage_total: int | None = None
    storage_memory: str | None = None
    storages: dict[str, tuple[int, int]] = field(default_factory=dict)  # (used, total) of each memory drained
    last_error: str | None = None
    balance: dict[str, object] | None = None  # the last balance check's amount, currency, answer and time
    balance_error: dict[str, object] | None = None  # why the last check failed, and when
    restarts: int = 0
    received: int = 0
    calls: int = 0
    sent: int = 0
    since: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    device: str | None = None  # the tty the port is on (another than its URL's after a renumbering)
    recovery: RecoveryStatus = field(default_factory=RecoveryStatus)

    def to_json(self) -> dict[str, Any]:
        return {
            "port": self.port, "state": str(self.state), "iccid": self.iccid, "imsi": self.imsi,
            "imei": self.imei, "msisdn": self.msisdn, "operator": self.operator,
            "manufacturer": self.manufacturer, "model": self.model, "driver": self.driver,
            "signal_dbm": self.signal_dbm, "registration": self.registration,
            "storage": {"used": self.storage_used, "total": self.storage_total},
            "storage_memory": self.storage_memory,
            "storages": {name: {"used": used, "total": total} for name, (used, total) in self.storages.items()},
            "last_error": self.last_error, "restarts": self.restarts, "received": self.received,
            "calls": self.calls, "sent": self.sent, "since": self.since, "balance": self.balance,
            "balance_error": self.balance_error, "device": self.device, "recovery": self.recovery.to_json(),
        }


@dataclass(frozen=True)
class PortConfig:
    """A port as registered: its name, pyserial URL and optional driver name."""

    name: str
    url: str
    driver: str | None = None
    msisdn: str | None = None


DriverFactory = Callable[[PortConfig], ModemDriver]


def open_port_driver(config: PortConfig) -> ModemDriver:
    """The driver for a registered port: the one it names, else the one probing picks."""
    return open_driver(config.url, name=config.driver, port_name=config.name)


@dataclass(frozen=True)
class _Wake:
    """Put on the event queue to wake the worker (to stop, or to look at the clock)."""


WAKE = _Wake()


@dataclass(frozen=True)
class _SendDue:
    """Put on the event queue when the port has a send waiting."""


SEND_DUE = _SendDue()
SWITCH_RETRY_S = 0.5  # between sessions while a planned slot switch is under way (the SIM may still be out)


class DrainRequest:
    """Asked before a slot switch: every memory swept (read, committed, deleted), then no send started for
    `hold_s` or until the SIM changes, so that none is on the air when the SIM leaves. `on_done` is called on the
    worker's thread once it is done, `error` saying why not if it failed."""

    def __init__(self, hold_s: float, on_done: Callable[[DrainRequest], None] | None = None) -> None:
        self.hold_s = hold_s
        self.on_done = on_done
        self.error: str | None = None
        self.done = threading.Event()

    def finish(self, error: str | None = None) -> None:
        self.error = error
        self.done.set()
        if self.on_done is not None:
            self.on_done(self)


@dataclass(frozen=True)
class _Release:
    """Put on the event queue when a planned slot switch was given up: sends may start again."""


Event = ModemEvent | _Wake | _SendDue | DrainRequest | _Release


class PortWorker(threading.Thread):
    """Owns one serial port and its driver; everything the driver reports is handled on this thread."""

    def __init__(
        self,
        config: PortConfig,
        spool: Spool,
        open_driver: DriverFactory,
        *,
        on_status: Callable[[PortStatus], None] | None = None,
        sweep_interval_s: float = SWEEP_INTERVAL_S,
        health_interval_s: float = HEALTH_INTERVAL_S,
        watchdog_idle_s: float = WATCHDOG_IDLE_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        dead_after_failures: int = DEAD_AFTER_FAILURES,
        reset_unregistered_after_s: float = RESET_UNREGISTERED_AFTER_S,
        reset_interval_s: float = RESET_INTERVAL_S,
        stable_session_s: float = STABLE_SESSION_S,
        sends: SendQueue | None = None,
        send_gap_s: float = SEND_GAP_S,
        send_retry_s: float = SEND_RETRY_S,
        send_daily_limit: int = 0,
        metrics: Metrics | None = None,
        ussd_checks: Sequence[UssdCheck] = (),
        physical: PhysicalControl | None = None,
        recovery_timings: LadderTimings | None = None,
    ) -> None:
        super().__init__(name=f"simhost-port-{config.name}", daemon=True)
        self.config = config
        self.spool = spool
        self.open_driver = open_driver
        self.on_status = on_status
        self.sweep_interval_s = sweep_interval_s
        self.health_interval_s = health_interval_s
        self.watchdog_idle_s = watchdog_idle_s
        self._health_turn = 0
        self.backoff_max_s = backoff_max_s
        self.dead_after_failures = dead_after_failures
        self.reset_unregistered_after_s = reset_unregistered_after_s
        self.reset_interval_s = reset_interval_s
        self.stable_session_s = stable_session_s
        self.sends = sends
        self.send_gap_s = send_gap_s
        self.send_retry_s = send_retry_s
        self.send_daily_limit = send_daily_limit
        self._send_wanted = False
        self._send_at = 0.0  # sends on one SIM are at least send_gap_s apart
        self._ready_at: float | None = None
        self.status = PortStatus(port=config.name, msisdn=config.msisdn)
        self.events: queue.Queue[Event] = queue.Queue()
        self.stopping = threading.Event()
        self.recovery = RecoveryLadder(config.name, config.url, physical, recovery_timings or LadderTimings(),
                                       stopping=self.stopping)
        self.status.recovery = self.recovery.status
        self.ready = threading.Event()
        self.calls = CallCorrelator()
        self.log = logging.getLogger(f"simhost.worker.{config.name}")
        self._driver: ModemDriver | None = None
        self._last_iccid: str | None = None
        self._pushed_back: Event | None = None
        self._unregistered_since: float | None = None
        self._last_reset: float | None = None
        self._switch_until = 0.0  # sends held and restarts not counted as failures until then (a planned switch)
        self._in_send = False
        self._drain_after_send: DrainRequest | None = None
        self._state_cond = threading.Condition()
        self._entries: dict[PortState, int] = {}
        self.metrics = metrics or Metrics()
        self._received_by_kind = {kind: self.metrics.received.labels(config.name, kind)
                                  for kind in ("sms", "call", "undecodable", "status-report")}
        self.ussd = UssdDesk(config.name, self.status, ussd_checks, wake=lambda: self.events.put(WAKE),
                             changed=self._publish_status)

    # ---- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping.set()
        self.events.put(WAKE)

    def run(self) -> None:
        backoff = Backoff(first_s=BACKOFF_FIRST_S, max_s=self.backoff_max_s, stable_s=self.stable_session_s)
        while not self.stopping.is_set():
            delay = 0.0
            try:
                self._session()
                backoff.succeeded()
            except Exception as exc:  # every failure takes the one recovery path below
                # the time it was ready: after a session that ran well, the count (and the wait) start afresh
                delay = backoff.failed(time.monotonic() - self._ready_at if self._ready_at is not None else 0.0)
                if time.monotonic() < self._switch_until:  # a planned slot switch is no failure
                    backoff.succeeded()
                    delay = SWITCH_RETRY_S
                self.status.restarts += 1
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                self.log.warning("port %s: %s; restarting (attempt %d)", self.config.name,
                                 self.status.last_error, backoff.failures,
                                 exc_info=not isinstance(exc, AtError | ConnectionError | OSError))
                line, self._driver = self._driver, None
                plan = self.recovery.failed(line)
                delay = delay if plan.delay_s is None else plan.delay_s
            finally:
                self.ready.clear()
                self._ready_at = None
                self.ussd.session_ended()
                self._close_driver()
            if self.stopping.is_set():
                break
            dead = backoff.failures >= self.dead_after_failures or self.recovery.gave_up
            self._set_state(PortState.DEAD if dead else PortState.DEGRADED)
            self.stopping.wait(delay)
        self._set_state(PortState.STOPPED)

    @property
    def driver(self) -> ModemDriver:
        """The open session's driver."""
        if self._driver is None:
            raise ConnectionError("no session: the modem is not open")
        return self._driver

    def _close_driver(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            try:
                driver.close()
            except Exception as exc:
                self.log.debug("closing driver: %s", exc)

    def _set_state(self, state: PortState) -> None:
        previous = self.status.state
        if previous != state:
            self.log.info("port %s: %s -> %s", self.config.name, previous, state,
                          extra={"port": self.config.name, "state": str(state), "previous_state": str(previous)})
            with self._state_cond:
                self.status.state = state
                self.status.since = datetime.now(UTC).isoformat()
                self._entries[state] = self._entries.get(state, 0) + 1
                self._state_cond.notify_all()
            self._publish_status()

    def entries(self, state: PortState) -> int:
        """How many times the worker has entered `state` so far."""
        with self._state_cond:
            return self._entries.get(state, 0)

    def wait_entered(self, state: PortState, more_than: int, timeout_s: float) -> bool:
        """Wait until `state` has been entered more than `more_than` times in all."""
        with self._state_cond:
            return self._state_cond.wait_for(lambda: self._entries.get(state, 0) > more_than, timeout_s)

    def wait_status(self, predicate: Callable[[PortStatus], bool], timeout_s: float) -> bool:
        """Wait until `predicate(status)` holds (checked at each state change); False on timeout."""
        with self._state_cond:
            return self._state_cond.wait_for(lambda: predicate(self.status), timeout_s)

    def drain_for_switch(self, hold_s: float, on_done: Callable[[DrainRequest], None] | None = None) -> DrainRequest:
        """Ask for a full sweep before a slot switch, and no new send for `hold_s` (see DrainRequest)."""
        request = DrainRequest(hold_s, on_done)
        self.events.put(request)
        return request

    def release_sends(self) -> None:
        """The slot switch a DrainRequest announced is not coming: sends may start again."""
        self.events.put(_Release())

    def _drain(self, request: DrainRequest) -> None:
        if self._in_send:  # between the parts of a send: after its last part
            self._drain_after_send = request
            return
        try:
            self._sweep()
        except Exception as exc:
            request.finish(f"{type(exc).__name__}: {exc}")
            raise
        self._switch_until = time.monotonic() + request.hold_s
        request.finish()

    def _publish_status(self) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:
                self.log.exception("status callback failed")

    # ---- one connected session ---------------------------------------------------------------

    def _session(self) -> None:
        self._set_state(PortState.PROBING)
        self._drain_events()
        device = self.recovery.device()
        self.status.device = device
        # a modem found again under another name is opened there; the port's registered URL stays as it is
        driver = self.open_driver(self.config if device == self.config.url else replace(self.config, url=device))
        self._driver = driver
        driver.on_event = self.events.put
        self._set_state(PortState.INITIALIZING)
        info = driver.init()
        self._absorb_info(info)
        self._sweep()
        self._refresh_health()
        # a call that started ringing while the port was away is hung up now, not at its next ring
        self._act(self.calls.listed(driver.current_calls(), time.monotonic()), datetime.now(UTC))
        if self.sends is not None:
            unknown = self.sends.recover(self.config.name)
            if unknown:
                self.log.warning("port %s: %d send(s) were on the air when the last session ended: unknown",
                                 self.config.name, unknown)
            self._send_wanted = True
        self.recovery.ready(self.status.imei, driver.name)
        self._set_state(PortState.READY)
        self._ready_at = time.monotonic()
        self.ready.set()
        self._loop()

    def _drain_events(self) -> None:
        self._pushed_back = None
        self._unregistered_since = None
        self.calls = CallCorrelator()  # stamps of the last session's lines and hang-ups mean nothing now
        waiting: Event | None = self._drain_after_send
        self._drain_after_send = None
        while True:
            if isinstance(waiting, DrainRequest):
                waiting.finish("the session ended before the sweep")
            try:
                waiting = self.events.get_nowait()
            except queue.Empty:
                return

    def _absorb_info(self, info: ModemInfo) -> None:
        iccid = info.iccid
        self.status.iccid = iccid
        self.status.imsi = info.imsi
        self.status.imei = info.imei
        self.status.manufacturer = info.manufacturer
        self.status.model = info.model
        self.status.driver = self.driver.name
        self.status.operator = info.operator
        self.status.storage_memory = info.storage
        # a number registered for the port wins over what the SIM says about itself
        self.status.msisdn = self.config.msisdn or info.msisdn
        if self._last_iccid is not None and iccid != self._last_iccid:
            planned = time.monotonic() < self._switch_until
            self._switch_until = 0.0
            self.log.log(logging.INFO if planned else logging.WARNING, "port %s: SIM changed from ICCID %s to %s%s",
                         self.config.name, self._last_iccid, iccid, " (slot switch)" if planned else "")
            self.status.last_error = f"SIM changed: ICCID {self._last_iccid} -> {iccid}"
        self._last_iccid = iccid

    def _who(self) -> PortIdentity:
        return PortIdentity(self.config.name, self.status.iccid or "unknown", self.status.msisdn)

    def _loop(self) -> None:
        driver = self.driver
        next_sweep = time.monotonic() + self.sweep_interval_s
        next_health = time.monotonic() + self.health_interval_s
        last_activity = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            deadlines = [next_sweep, next_health, last_activity + self.watchdog_idle_s]
            call_deadline = self.calls.next_deadline()
            if call_deadline is not None:
                deadlines.append(call_deadline)
            reset_at = self._reset_at()
            if reset_at is not None:
                deadlines.append(reset_at)
            if self._send_wanted:
                deadlines.append(max(self._send_at, self._switch_until))
            deadlines.append(self.ussd.next_due(now))
            timeout = max(0.0, min(deadlines) - now)
            event: Event
            try:
                if self._pushed_back is not None:
                    event, self._pushed_back = self._pushed_back, None
                else:
                    event = self.events.get(timeout=timeout)
            except queue.Empty:
                event = WAKE
            now = time.monotonic()
            if isinstance(event, ev.ConnectionLost):
                raise ConnectionError(f"modem connection lost: {event.error}")
            if not isinstance(event, _Wake):
                last_activity = now
            try:
                self._handle(event)
            except MemoryFullError:
                self.log.warning("port %s: SIM storage full; sweeping it", self.config.name)
                self._sweep()
            self._act(self.calls.tick(now), datetime.now(UTC))
            if self._send_wanted and now >= max(self._send_at, self._switch_until):
                try:
                    self._send_one()
                except (AtError, ConnectionError, OSError):
                    raise  # the modem or its line: the session starts again
                except Exception:  # a fault of sending must never stop receiving
                    self.log.exception("port %s: sending failed; receiving goes on, sending is tried again in "
                                       "%.0f s", self.config.name, SEND_PAUSE_AFTER_FAULT_S)
                    self._send_at = time.monotonic() + SEND_PAUSE_AFTER_FAULT_S
                last_activity = time.monotonic()
                waiting, self._drain_after_send = self._drain_after_send, None
                if waiting is not None:
                    self._drain(waiting)
            if self._pushed_back is None and self.events.empty():
                self.ussd.step(driver, now)  # idle time only: nothing waits to be read
            reset_at = self._reset_at()
            if reset_at is not None and now >= reset_at:
                self._reset_modem(now)
            if now >= next_sweep:
                self._sweep()
                next_sweep = now + self.sweep_interval_s
                last_activity = now
            if now >= next_health:
                self._health_tick()
                next_health = now + self.health_interval_s
                last_activity = now
            elif now - last_activity >= self.watchdog_idle_s:
                driver.ping()
                last_activity = now

    def _handle(self, event: Event) -> None:
        match event:
            case _SendDue():
                self._send_wanted = True
            case DrainRequest():
                self._drain(event)
            case _Release():
                self._switch_until = 0.0
            case ev.NewMessage(memory, index, at):
                new = self._more_new({(memory, index): at})
                if len(new) > 1:
                    # one listing per memory named reads them all in one round trip instead of one AT+CMGR each
                    self._sweep(list(dict.fromkeys(memory for memory, _ in new)), notified=new)
                else:
                    self._read_and_store(memory, index, at)
            case ev.DirectMessage(pdu, at):
                self._received([self.spool.store_pdu(self._who(), pdu)], [at])
                self.driver.ack_direct()
            case ev.DirectReport(pdu):
                result = self.spool.store_pdu(self._who(), pdu)
                self._received([result])
                self._match_reports([pdu], [result])
                self.driver.ack_direct()
            case ev.StoredReport(memory, index):
                self._read_and_store(memory, index)
            case ev.Ring(at, wall):
                self._act(self.calls.ring(at), wall)
            case ev.CallerId(number, number_type, validity, at, wall):
                self._act(self.calls.clip(at, number, number_type, validity), wall)
            case ev.CallEnded(at):
                self.calls.call_ended(at)
            case ev.SimChanged(line):
                raise ConnectionError(f"SIM state changed: {line}")
            case ev.Booted(line):
                raise ConnectionError(f"the modem restarted ({line})")
            case ev.UssdReply(answer):
                self.ussd.answered(answer)
            case ev.Registration(state):
                self.status.registration = str(state)
                self._note_registration(state.registered)
                if state.registered:
                    self._check_sim()
            case _:
                pass  # a wake-up, or the lost connection the loop has handled

    def notify_send_due(self) -> None:
        """A send waits for this port (the gateway's poller calls this from its thread)."""
        self.events.put(SEND_DUE)

    def _send_one(self) -> None:
        """Put the next send waiting for this port on the air, part by part; each part is recorded before its
        AT+CMGS, so one whose answer never came is reported `unknown` and never sent twice."""
        queue_ = self.sends
        if queue_ is None:
            self._send_wanted = False
            return
        claimed = queue_.claim(self.config.name, self.status.iccid, daily_limit=self.send_daily_limit)
        if claimed is None:
            self._send_wanted = False
            return
        self._in_send = True
        try:
            self._send_claimed(queue_, claimed)
        finally:
            self._in_send = False

    def _send_claimed(self, queue_: SendQueue, claimed: Claimed) -> None:
        self._send_at = time.monotonic() + self.send_gap_s
        try:
            pdus = encode_submit(claimed.to, claimed.text, concat_ref=claimed.concat_ref,
                                 request_status_report=claimed.report)
        except PduError as exc:
            queue_.fail(claimed.id, "refused", f"the text cannot be sent: {exc}")
            return
        for seq, pdu in enumerate(pdus, start=1):
            if seq in claimed.parts_done:
                continue
            queue_.part_starting(claimed.id, seq, self.config.name)
            try:
                mr = self.driver.send_pdu(pdu.hex, pdu.tpdu_length)
            except CommandError as exc:  # a final result: the modem did not send this part
                queue_.part_refused(claimed.id, seq)
                self._send_refused(claimed.id, claimed.tries, exc)
                return
            except Exception as exc:  # no answer: it may have gone out; never send it again
                queue_.fail(claimed.id, "unknown", f"no answer to AT+CMGS ({type(exc).__name__}: {exc}); "
                            "whether it went out is not known, and it is not sent again", state="unknown")
                raise
            queue_.part_sent(claimed.id, seq, mr)
            self._handle_waiting()  # receiving is never starved: what came meanwhile is read between parts
        queue_.sent(claimed.id)
        self.status.sent += 1

    def _send_refused(self, send_id: str, tries: int, exc: CommandError) -> None:
        assert self.sends is not None
        code = f"cms-{exc.code}" if exc.source == "CMS" and exc.code is not None else "cms-error"
        if exc.source == "CMS" and exc.code in TRANSIENT_SEND_CODES and tries < SEND_TRIES:
            delay = self.send_retry_s * 2 ** (tries - 1)
            self.log.info("port %s: send %s refused for now (%s); trying again in %.0f s", self.config.name,
                          send_id, exc.final, delay)
            self.sends.retry_later(send_id, delay, code, f"the modem answered {exc.final}")
            self._send_at = max(self._send_at, time.monotonic() + delay)  # and look again then
            self._send_wanted = True
            return
        self.log.warning("port %s: send %s failed: %s", self.config.name, send_id, exc.final)
        self.sends.fail(send_id, code, f"the modem answered {exc.final}" + (f" after {tries} tries" if tries > 1
                                                                            else ""))

    def _handle_waiting(self) -> None:
        """Handle the events that are waiting, without waiting for more."""
        while True:
            try:
                event = self._pushed_back if self._pushed_back is not None else self.events.get_nowait()
            except queue.Empty:
                return
            self._pushed_back = None
            if isinstance(event, ev.ConnectionLost):
                raise ConnectionError(f"modem connection lost: {event.error}")
            self._handle(event)

    def _match_reports(self, pdus: list[str], results: list[StoreResult]) -> None:
        """Status reports just committed: settle the sends they report on."""
        if self.sends is None:
            return
        for pdu, result in zip(pdus, results, strict=True):
            if result.kind == "status-report" and not result.duplicate:
                self.sends.report(self.config.name, pdu)

    def _note_registration(self, registered: bool) -> None:
        if registered:
            self._unregistered_since = None
        elif self._unregistered_since is None:
            self._unregistered_since = time.monotonic()

    def _reset_at(self) -> float | None:
        """When the modem is due for a restart for staying unregistered; None while it is registered."""
        if self._unregistered_since is None:
            return None
        due = self._unregistered_since + self.reset_unregistered_after_s
        if self._last_reset is not None:
            due = max(due, self._last_reset + self.reset_interval_s)
        return due

    def _reset_modem(self, now: float) -> None:
        """Restart a modem that stays unregistered; the session ends and a new one starts once it is back."""
        since = now - (self._unregistered_since or now)
        command = self.driver.quirks.reset_command
        self._last_reset = now
        self.recovery.restarting()
        self.status.last_error = f"not registered for {since:.0f} s: restarted the modem with {command}"
        self.log.warning("port %s: %s", self.config.name, self.status.last_error)
        self.driver.reset()
        raise ConnectionError(self.status.last_error)

    def _check_sim(self) -> None:
        """Restart the session when the ICCID changed: a slot switch a plain modem does not announce."""
        iccid = self.driver.iccid()
        if iccid != self.status.iccid:
            raise ConnectionError(f"SIM changed: ICCID {self.status.iccid} -> {iccid}")

    def _act(self, decision: CallDecision | None, when: datetime) -> None:
        """Do what the call correlator decided: ask AT+CLCC (and act on its answer) or hang up and record."""
        if decision is not None and decision.check:
            decision = self.calls.listed(self.driver.current_calls(), time.monotonic())
        if decision is not None and decision.hang_up:
            self._hang_up(decision, when)

    def _hang_up(self, decision: CallDecision, when: datetime) -> None:
        call = decision.call
        done = False
        try:
            done = bool(self.driver.hang_up())
        finally:
            # the answer's stamp, taken on the reader thread: lines read before it are this call's
            answered_at = getattr(self._driver, "last_answer_at", None) or time.monotonic()
            self.calls.hung_up(call, answered_at, refused=not done)
            message_id = self.spool.store_call(self._who(), call.caller, call.caller_type, when)
            self.status.calls += 1
            self._received([StoreResult(message_id, False, message_id, "call")])

    def _more_new(self, new: dict[tuple[str, int], float]) -> dict[tuple[str, int], float]:
        """`new` ((memory, index) -> when notified) and the new-message notifications queued right behind them (a
        burst is then read with one listing per memory); stops at the first other event, which is put back in
        front."""
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return new
            if isinstance(event, _Wake):
                continue
            if not isinstance(event, ev.NewMessage):
                self._pushed_back = event
                return new
            new.setdefault((event.memory, event.index), event.at)

    def _read_and_store(self, memory: str, index: int, notified_at: float | None = None) -> None:
        """Read, commit and delete the message a +CMTI/+CDSI (read at `notified_at`) announced in `memory` at
        `index`."""
        driver = self.driver
        stored = driver.read_message(index, memory=memory)
        if stored is not None:
            result = self.spool.store_pdu(self._who(), stored.pdu)
            self._received([result], [notified_at])
            self._match_reports([stored.pdu], [result])
            driver.delete_message(index, memory=memory)
        driver.restore_memory()
        total = driver.usage.get(memory, (0, 0))[1]
        if stored is not None and total and index + 1 >= total * STORAGE_HIGH_WATER:
            # a high index means notifications were missed and the storage is filling: empty it now
            self.log.info("port %s: message at index %d of %d in %s; sweeping the storage", self.config.name,
                          index, total, memory)
            self._sweep([memory])

    def _received(self, results: Sequence[StoreResult], notified_at: Sequence[float | None] = ()) -> None:
        """Count what was just committed (the port status, the metrics) and log each message that entered the
        outbox; an SMS whose notification was read at `notified_at` (one per result, or none) has its latency
        measured."""
        self.status.received += sum(1 for r in results if r.kind not in ("status-report", "call"))
        committed_at = time.monotonic()
        for n, result in enumerate(results):
            if result.duplicate or (result.message_id is None and result.kind != "status-report"):
                continue  # a part of a message still incomplete, or one stored before
            self._received_by_kind[result.kind].inc()
            at = notified_at[n] if notified_at else None
            if at is not None and result.kind == "sms":
                self.metrics.receive_seconds.observe(committed_at - at)
            if self.log.isEnabledFor(logging.INFO):
                message_id = result.message_id or result.part_id
                self.log.info("port %s: received %s %s (%d part(s))", self.config.name, result.kind, message_id,
                              result.parts, extra={"port": self.config.name, "message_id": message_id,
                                                   "kind": result.kind, "parts": result.parts})

    def _sweep(self, memories: list[str] | None = None,
               notified: Mapping[tuple[str, int], float] | None = None) -> None:
        """Read, commit and delete everything (stat 4 = all) in `memories`, by default in every memory the modem
        offers; then read from the receive storage again. `notified`: when the messages announced were."""
        driver = self.driver
        names = memories or list(driver.storages) or ([driver.memory] if driver.memory else [])
        # the memory selected now first: the common case needs no AT+CPMS at all
        names.sort(key=lambda name: name != driver.read_memory)
        for name in names:
            try:
                found = driver.list_messages(4, memory=name)
            except CommandError as exc:
                if name == driver.memory:
                    raise
                self.log.warning("port %s: cannot read memory %s: %s", self.config.name, name, exc)
                continue
            if not found:
                continue
            # one transaction for the whole listing, committed before the first AT+CMGD
            pdus = [stored.pdu for stored in found]
            results = self.spool.store_pdus(self._who(), pdus)
            self._received(results, [notified.get((name, stored.index)) for stored in found] if notified else ())
            self._match_reports(pdus, results)
            for stored in found:
                driver.delete_message(stored.index)
        driver.restore_memory()

    def _health_tick(self) -> None:
        """The SIM's ICCID (a hung modem times out, a silent slot switch shows), then one item in turn: the
        receive memory's listing (a message whose +CMTI was lost), the AT+CNMI settings (a modem that restarted
        without a word forgets them), signal, registration, storage use."""
        self._check_sim()
        self._health_item(HEALTH_ROTATION[self._health_turn % len(HEALTH_ROTATION)])
        self._health_turn += 1
        self.status.last_error = None
        self._publish_status()

    def _refresh_health(self) -> None:
        """Everything the health ticks ask in turn but the listing, at once (when a session starts, right after
        the first sweep)."""
        try:
            for item in ("signal", "registration", "storage"):
                self._health_item(item)
            self._check_sim()
            self._health_item("notifications")
        except Exception as exc:
            self.log.debug("health query failed: %s", exc)
            raise
        self.status.last_error = None
        self._publish_status()

    def _health_item(self, item: str) -> None:
        """Ask the modem one thing of HEALTH_ROTATION and note it in the port status."""
        driver = self.driver
        if item == "listing":
            self._sweep([driver.memory] if driver.memory else None)
        elif item == "notifications":
            if driver.notifications_lost():
                raise ConnectionError("the modem forgot its settings (it restarted unannounced); initialising again")
        elif item == "signal":
            self.status.signal_dbm = driver.signal_dbm()
        elif item == "registration":
            reg = driver.registration()
            self.status.registration = str(reg)
            self._note_registration(reg.registered)
        else:
            self.status.storages, (self.status.storage_used, self.status.storage_total) = driver.storages_status()
