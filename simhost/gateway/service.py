"""The gateway service: a worker per registered port, the outbox relay to MQTT, and port status."""

from __future__ import annotations

import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import Counter
from prometheus_client.metrics_core import Metric
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.gateway.rotation import RotationScheduler, RotationTimes, switchers_by_bank
from simhost.gateway.spool import OutboxRow, PortScope, Spool
from simhost.gateway.ussd_mqtt import UssdRequests
from simhost.gateway.worker import DriverFactory, PortConfig, PortState, PortStatus, PortWorker
from simhost.metrics import LazyCollector, Metrics, PortReading, backlog_families, bounded, port_families
from simhost.models import Port
from simhost.mqtt import AckingPublisher, make_client
from simhost.payloads import PayloadError, parse_object
from simhost.sending.queue import SendQueue
from simhost.statuses import CONNECTION_LOST, STOPPED, gateway_offline, port_offline
from simhost.topics import Topics
from simhost_drivers.physical import LinuxPhysical, PhysicalControl, parse_power_cycle_rules, power_cycle_for

log = logging.getLogger("simhost.gateway")

RELAY_BATCH = 200
STATUS_INTERVAL_S = 30.0
STATUS_EXPIRY_S = 3 * STATUS_INTERVAL_S
EXPIRE_INTERVAL_S = 60.0
MAX_IN_FLIGHT = 1000
RESCAN_INTERVAL_S = 5.0
SEND_POLL_S = 0.25  # one indexed query for all the ports; a send waits at most this long to be seen
FRESH_CAP = 10_000
RECENTLY_DONE = 10_000
CONFIRM_TIMEOUT_MAX_S = 600.0
UNCONFIRMED_WARNING_INTERVAL_S = 60.0


FDS_PER_PORT = 8  # the tty, pyserial's two pipes, the channel's wake-ups, with room to spare


def raise_open_files_limit(ports: int) -> None:
    """Lift the soft limit on open files (often 1024) towards the hard one for a gateway of `ports` ports."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 256 + FDS_PER_PORT * ports
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < want:
            log.warning("open files limited to %d (hard limit); %d ports may need %d", new, ports, want)


PhysicalFactory = Callable[[PortConfig], PhysicalControl | None]


def linux_physical(settings: Settings) -> PhysicalFactory:
    """The physical control of each port as `settings` configure it (recovery.usb_reset, recovery.power_cycle)."""
    rules = parse_power_cycle_rules(settings.power_cycle)

    def physical(port: PortConfig) -> PhysicalControl:
        return LinuxPhysical(power_cycle_for(rules, port.name), usb_reset=settings.usb_reset)
    return physical


def load_ports(sessions: sessionmaker[Session]) -> list[PortConfig]:
    with sessions() as s:
        rows = s.scalars(select(Port).where(Port.enabled.is_(True)).order_by(Port.name)).all()
        return [PortConfig(name=r.name, url=r.url, driver=r.driver) for r in rows]


@dataclass
class _Unconfirmed:
    """A row the broker acknowledged, waiting for a router's confirmation until `due`."""

    row: OutboxRow
    due: float
    tries: int


class OutboxRelay(threading.Thread):
    """Moves outbox rows to the broker and keeps each until it is safe.

    A row is done when a router confirmed it (it recorded its decision and published the routed copy) on
    `<prefix>/v1/acks/<port>`: the broker's PUBACK alone does not make it safe, since a broker restarted without
    persistence, a session stolen by another client or a router that is down lose what the broker acknowledged.
    A row not confirmed `confirm_timeout_s` after its PUBACK is published again (the wait doubling up to
    CONFIRM_TIMEOUT_MAX_S), and every unconfirmed row is published again after a reconnect; routers route a
    message once, however often it comes. With no timeout (settings.router_ack_timeout_s = 0) the PUBACK is enough.

    Rows the spool has just committed are handed over in memory and published at once; the outbox table
    is read only at start, after a reconnect, every few seconds as a safety net, and when the in-memory
    queue overflowed (broker away for long).
    """

    def __init__(self, spool: Spool, settings: Settings, gateway_id: str, metrics: Metrics | None = None) -> None:
        super().__init__(name="simhost-relay", daemon=True)
        self.spool = spool
        self.metrics = metrics or Metrics()
        self._published_by_port: dict[str, Counter] = {}
        self.topics = Topics(settings.topic_prefix)
        self.confirm_timeout_s = settings.router_ack_timeout_s or None
        self._inbound_prefix = self.topics.inbound_all[:-1]
        self.wake = threading.Event()
        self.new_rows = threading.Event()
        self.stopping = threading.Event()
        self._handed: dict[str, OutboxRow] = {}  # published, not yet done
        self._acked: list[str] = []  # PUBACKs not yet handled
        self._confirmed: list[str] = []  # router confirmations not yet handled
        self._unconfirmed: dict[str, _Unconfirmed] = {}
        self._tries: dict[str, int] = {}
        self._republish_all = False
        self._next_warning = 0.0
        self._fresh: dict[str, OutboxRow] = {}  # by id, in the order they were committed
        # ids done lately: a row announced after a database read already published it is not sent twice
        self._done: dict[str, None] = {}  # insertion-ordered: the oldest goes first when it is full
        self._lock = threading.Lock()
        self.publisher = AckingPublisher(
            settings.mqtt, f"simhost-gw-{gateway_id}", self._on_acked, on_connect=self._connected,
        )
        self.publisher.client.on_message = self._on_confirmation

    def _connected(self) -> None:
        if self.confirm_timeout_s is not None:
            self.publisher.client.subscribe(self.topics.acks_all, qos=1)
            with self._lock:
                self._republish_all = True  # a broker that restarted may have lost what it acknowledged
        self.rescan()

    def _on_acked(self, message_id: str) -> None:
        with self._lock:
            self._acked.append(message_id)
        self.wake.set()

    def _on_confirmation(self, _client: Any, _userdata: Any, msg: Any) -> None:
        try:
            ids = parse_object(bytes(msg.payload)).get("ids")
            if not isinstance(ids, list):
                raise PayloadError("`ids` is not a list")
        except Exception as exc:  # an exception here would end paho's network thread
            log.warning("bad confirmation on %s: %s", msg.topic, str(exc)[:200])
            return
        with self._lock:
            self._confirmed.extend(i for i in ids if isinstance(i, str))
        self.wake.set()

    def start(self) -> None:
        self.publisher.start()
        super().start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.join()
        self._flush_acks()
        self.publisher.stop()

    def _flush_acks(self) -> None:
        with self._lock:
            acked, self._acked = self._acked, []
            confirmed, self._confirmed = self._confirmed, []
            topics = [row.topic for message_id in acked if (row := self._handed.get(message_id)) is not None]
        self._count_published(topics)
        if self.confirm_timeout_s is None:
            self._finish(acked)
            return
        now = time.monotonic()
        with self._lock:
            for message_id in acked:
                row = self._handed.get(message_id)
                if row is not None and not row.topic.startswith(self._inbound_prefix):
                    confirmed.append(message_id)  # a send's outcome, a report for operators: no router reads it
                elif row is not None:
                    tries = self._tries.get(message_id, 0)
                    wait = min(CONFIRM_TIMEOUT_MAX_S, self.confirm_timeout_s * 2 ** min(tries, 16))
                    self._unconfirmed[message_id] = _Unconfirmed(row, now + wait, tries)
        # a confirmation of a row this process did not publish (another gateway process, an earlier run) also
        # says that row is safe
        self._finish(confirmed)

    def _count_published(self, topics: list[str]) -> None:
        """The metrics of the rows the broker has just acknowledged (published on `topics`)."""
        for topic in topics:
            if not topic.startswith(self._inbound_prefix):
                self.metrics.outcomes_published.inc()
                continue
            port = topic[len(self._inbound_prefix):]
            counter = self._published_by_port.get(port)
            if counter is None:
                counter = self._published_by_port[port] = self.metrics.published.labels(port)
            counter.inc()

    def _finish(self, message_ids: list[str]) -> None:
        if not message_ids:
            return
        self.spool.mark_published(message_ids)
        with self._lock:
            for message_id in message_ids:
                self._handed.pop(message_id, None)
                self._unconfirmed.pop(message_id, None)
                self._tries.pop(message_id, None)
                self._fresh.pop(message_id, None)
                self._done[message_id] = None
                if len(self._done) > RECENTLY_DONE:
                    del self._done[next(iter(self._done))]

    def _republish_due(self) -> None:
        """Publish again what no router confirmed in time (all of it after a reconnect)."""
        now = time.monotonic()
        with self._lock:
            every = self._republish_all
            self._republish_all = False
            due = [u for u in self._unconfirmed.values() if every or u.due <= now]
            for u in due:
                del self._unconfirmed[u.row.id]
                self._tries[u.row.id] = u.tries + 1
        if not due:
            return
        self.metrics.republished.inc(sum(1 for u in due if u.row.topic.startswith(self._inbound_prefix)))
        if now >= self._next_warning and not every:
            self._next_warning = now + UNCONFIRMED_WARNING_INTERVAL_S
            log.warning("%d message(s) not confirmed by a router in time; publishing them again (is a router "
                        "running with the same topic prefix?)", len(due))
        for u in due:
            self.publisher.publish(u.row.id, u.row.topic, u.row.payload)

    def notify_new(self, rows: Sequence[OutboxRow]) -> None:
        """Rows the spool has just committed."""
        with self._lock:
            if len(self._fresh) + len(rows) > FRESH_CAP:
                # far behind (the broker is away): the outbox table hands them over later instead of memory
                self._fresh.clear()
                self.new_rows.set()
            else:
                self._fresh.update((r.id, r) for r in rows)
        self.wake.set()

    def rescan(self) -> None:
        """Read the outbox table on the next round (after a connect)."""
        self.new_rows.set()
        self.wake.set()

    def _publish_fresh(self) -> None:
        while True:
            with self._lock:
                if not self._fresh or len(self._handed) >= MAX_IN_FLIGHT:
                    return
                row = self._fresh.pop(next(iter(self._fresh)))
                if row.id in self._handed or row.id in self._done:
                    continue
                self._handed[row.id] = row
            self.publisher.publish(row.id, row.topic, row.payload)

    def _next_wake(self) -> float:
        with self._lock:
            first_due = min((u.due for u in self._unconfirmed.values()), default=None)
        wait = RESCAN_INTERVAL_S if first_due is None else min(RESCAN_INTERVAL_S, first_due - time.monotonic())
        return max(0.0, wait)

    def run(self) -> None:
        next_scan = 0.0
        while not self.stopping.is_set():
            self.wake.wait(timeout=self._next_wake())
            self.wake.clear()
            try:
                self._flush_acks()
                self._republish_due()
                self._publish_fresh()
                with self._lock:
                    in_flight = len(self._handed)
                due = time.monotonic() >= next_scan
                if in_flight >= MAX_IN_FLIGHT or not (self.new_rows.is_set() or due):
                    continue
                self.new_rows.clear()
                next_scan = time.monotonic() + RESCAN_INTERVAL_S
                with self._lock:
                    exclude = self._handed.keys() | self._fresh.keys()
                rows = self.spool.pending(min(RELAY_BATCH, MAX_IN_FLIGHT - in_flight), exclude)
                for row in rows:
                    with self._lock:
                        self._handed[row.id] = row
                    self.publisher.publish(row.id, row.topic, row.payload)
                if rows:
                    self.new_rows.set()  # there may be more: read again on the next round
                    self.wake.set()
            except Exception:
                log.exception("outbox relay step failed; retrying")
                self.stopping.wait(1.0)


class Gateway:
    """Runs the workers for `ports`, the relay and the status publisher until `stop()`."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        ports: Sequence[PortConfig],
        open_driver: DriverFactory,
        *,
        gateway_id: str | None = None,
        worker_options: dict[str, Any] | None = None,
        scope: PortScope | None = None,
        metrics: Metrics | None = None,
        physical: PhysicalFactory | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.gateway_id = gateway_id or socket.gethostname()
        self.metrics = metrics or Metrics()
        self.spool = Spool(engine, self.topics, settings.region, scope=scope)
        self.relay = OutboxRelay(self.spool, settings, self.gateway_id, self.metrics)
        self.spool.on_new_message = self.relay.notify_new
        self.status_client = make_client(
            settings.mqtt, f"simhost-gw-status-{self.gateway_id}",
            will=(self.topics.gateway_status(self.gateway_id),
                  json.dumps(gateway_offline(self.gateway_id, [p.name for p in ports], CONNECTION_LOST))),
        )
        self._status_lock = threading.Lock()
        self.status_client.on_connect = self._status_connected
        self.sends = SendQueue(engine, self.topics, settings.region, on_outcome=self.relay.notify_new)
        options = {"send_gap_s": settings.send_gap_s, "send_daily_limit": settings.send_daily_limit,
                   "ussd_checks": settings.ussd, **(worker_options or {})}
        physical_of = physical or linux_physical(settings)
        self.workers = [
            PortWorker(p, self.spool, open_driver, on_status=self._publish_status, sends=self.sends,
                       metrics=self.metrics, physical=physical_of(p), **options)
            for p in ports
        ]
        self.ussd_requests = UssdRequests(self.status_client, self.topics, {w.config.name: w for w in self.workers},
                                          self.gateway_id)
        self.status_client.on_message = self.ussd_requests.on_message
        times = RotationTimes.from_settings(settings)
        self.rotation = None if times is None else RotationScheduler(
            self.workers, engine, switchers_by_bank(settings, {p.name: p.url for p in ports}), times,
            on_change=self._publish_port)
        # the whole bank's ports when this process has no scope; else its own (the others' are another's to count)
        self._own_ports = None if scope is None else frozenset(p.name for p in ports)
        self.collector = LazyCollector("gateway", self._read_gauges, self.metrics)
        self.stopping = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="simhost-gw-ticker", daemon=True)
        self._send_poller = threading.Thread(target=self._poll_sends, name="simhost-gw-sends", daemon=True)

    def _status_connected(self, client: Any, *_args: Any) -> None:
        client.publish(self.topics.gateway_status(self.gateway_id),
                       json.dumps({"state": "online", "ports": [w.config.name for w in self.workers]}),
                       qos=1, retain=True)
        self.ussd_requests.subscribe(client)
        for w in self.workers:
            self._publish_status(w.status)

    def _publish_status(self, status: PortStatus) -> None:
        # Snapshot and publish under one lock: the connect handler republishes every port from paho's
        # thread while workers publish their own changes, and a stale snapshot sent last would stick.
        # A live status expires unless refreshed, so a dead gateway's ports never look healthy for long;
        # the router's status keeper turns them into retained `offline` when the gateway's will arrives.
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.MessageExpiryInterval = int(STATUS_EXPIRY_S)
        if self.rotation is not None:
            self.rotation.poke()
        with self._status_lock:
            payload = status.to_json()
            payload["gateway"] = self.gateway_id
            if self.rotation is not None:
                payload["overdue_slots"] = self.rotation.overdue(status.port)
            self.status_client.publish(self.topics.port_status(status.port), json.dumps(payload),
                                       qos=1, retain=True, properties=props)

    def _publish_port(self, port: str) -> None:
        for w in self.workers:
            if w.config.name == port:
                self._publish_status(w.status)

    def _tick(self) -> None:
        waited = 0.0
        while not self.stopping.wait(STATUS_INTERVAL_S):
            waited += STATUS_INTERVAL_S
            for w in self.workers:
                self._publish_status(w.status)
            if waited >= EXPIRE_INTERVAL_S:
                waited = 0.0
                try:
                    self.spool.expire_incomplete()
                except Exception:
                    log.exception("reassembly expiry failed")

    def _read_gauges(self) -> list[Metric]:
        """The ports' gauges from the workers' statuses, the spool's backlog and the send queue from the database
        (on each scrape)."""
        readings = []
        for w in self.workers:
            status = w.status
            storages = status.storages or ({status.storage_memory or "receive": (status.storage_used,
                                                                                 status.storage_total)}
                                           if status.storage_used is not None and status.storage_total is not None
                                           else {})
            readings.append(PortReading(w.config.name, str(status.state), status.signal_dbm, storages,
                                        status.restarts))
        with self.spool.engine.connect() as conn, bounded(conn) as c:
            backlog = self.spool.backlog(c)
            queued = self.sends.queued_by_port(c, self._own_ports)
        return port_families(readings, [str(s) for s in PortState]) + backlog_families(backlog, queued)

    def _poll_sends(self) -> None:
        """Wake the workers whose ports have a send due (one query a second for all the ports)."""
        by_port = {w.config.name: w for w in self.workers}
        while not self.stopping.wait(SEND_POLL_S):
            try:
                due = self.sends.due_ports(list(by_port))
            except Exception:
                log.exception("looking for sends failed")
                continue
            for port in due:
                by_port[port].notify_send_due()

    def start(self) -> None:
        raise_open_files_limit(len(self.workers))
        self.metrics.attach(self.collector)
        target = self.settings.mqtt
        self.status_client.connect_async(target.host, target.port)
        self.status_client.loop_start()
        self.relay.start()
        self.spool.expire_incomplete()
        for w in self.workers:
            w.start()
        self._ticker.start()
        self._send_poller.start()
        if self.rotation is not None:
            self.rotation.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.rotation is not None:
            self.rotation.stop()
        for w in self.workers:
            w.stop()
        for w in self.workers:
            w.join()
        self._ticker.join()
        self._send_poller.join()
        self.relay.stop()
        for w in self.workers:
            offline = port_offline(w.config.name, self.gateway_id, last=w.status.to_json())
            self.status_client.publish(self.topics.port_status(w.config.name), json.dumps(offline),
                                       qos=1, retain=True)
        info = self.status_client.publish(
            self.topics.gateway_status(self.gateway_id),
            json.dumps(gateway_offline(self.gateway_id, [w.config.name for w in self.workers], STOPPED)),
            qos=1, retain=True)
        if self.status_client.is_connected():
            info.wait_for_publish(timeout=2.0)
        self.status_client.disconnect()
        self.status_client.loop_stop()
        self.metrics.detach(self.collector)
