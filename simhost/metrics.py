"""Prometheus metrics: every metric simhost exports, one registry per process, and the HTTP endpoint serving it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Connection

from simhost.config import ConfigError
from simhost.inputs import shown

log = logging.getLogger("simhost.metrics")
disable_created_metrics()  # type: ignore[no-untyped-call]  # the `_created` series of every counter and histogram: noise nobody here reads

# Seconds. Receiving is bound by the serial line (about 11 ms for one message at 115200 baud) and a commit;
# routing by a database transaction; a delivery try by the customer's endpoint (it times out after 10 s).
RECEIVE_BUCKETS_S = (0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ROUTE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DELIVERY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# a scrape never waits longer than this for one of the database's answers (backlogs, queue depths)
SCRAPE_QUERY_TIMEOUT_S = 2.0
SQLITE_PROGRESS_STEPS = 1000  # SQLite virtual-machine steps between two looks at the clock


class Metrics:
    """Every metric of one process, in a registry of its own (not prometheus_client's global one, so that tests
    can run several services in one process). The services count into it whether or not it is served.

    The counters and histograms are cheap enough for the hot path (a lock-protected add each); the services keep
    the labelled children they use often. Gauges that the database knows are read on each scrape, by collectors
    the services attach (`attach`), never by polling."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        # ---- the gateway
        self.received = Counter(
            "simhost_messages_received", "Messages committed to the spool, by port and kind (sms, call, "
            "undecodable, status-report); a multipart SMS counts once, when its last part arrives.",
            ["port", "kind"], registry=r)
        self.receive_seconds = Histogram(
            "simhost_receive_latency_seconds", "From the modem's notification of an SMS (+CMTI, +CMT) being read "
            "to the message's commit in the spool.", buckets=RECEIVE_BUCKETS_S, registry=r)
        self.published = Counter(
            "simhost_messages_published", "Inbound messages the MQTT broker acknowledged (PUBACK), by port; one "
            "published again (no router confirmed it in time, a reconnect) counts again.", ["port"], registry=r)
        self.republished = Counter(
            "simhost_messages_republished", "Inbound messages published again because no router confirmed them "
            "in time or the connection to the broker was lost.", registry=r)
        self.outcomes_published = Counter(
            "simhost_send_outcomes_published", "Send outcomes and unmatched status reports the MQTT broker "
            "acknowledged.", registry=r)
        # ---- the router
        self.routed = Counter(
            "simhost_messages_routed", "Decisions the router stored, by status (routed, unrouted, rejected) and "
            "rule (dedicated, prefix or reply when routed, else the reason code).", ["status", "rule"], registry=r)
        self.route_seconds = Histogram(
            "simhost_route_latency_seconds", "From an inbound message's arrival at the router to its decision "
            "committed with its deliveries.", buckets=ROUTE_BUCKETS_S, registry=r)
        # ---- the delivery service
        self.delivery_tries = Counter(
            "simhost_delivery_tries", "Delivery tries, by channel and result (delivered, failed, retry, dead).",
            ["channel", "result"], registry=r)
        self.delivery_seconds = Histogram(
            "simhost_delivery_try_seconds", "How long one delivery try took, by channel.", ["channel"],
            buckets=DELIVERY_BUCKETS_S, registry=r)
        # ---- the collectors reading the database on a scrape
        self.scrape_errors = Counter(
            "simhost_metrics_scrape_errors", "Scrapes in which a collector could not read what it reports (its "
            "gauges are then left out of that scrape), by collector.", ["collector"], registry=r)

    def attach(self, collector: LazyCollector) -> None:
        self.registry.register(collector)

    def detach(self, collector: LazyCollector) -> None:
        self.registry.unregister(collector)


class LazyCollector:
    """Gauges computed when scraped by `read` (a query with a short timeout, a look at the workers' statuses);
    a failure leaves them out of that scrape and counts in simhost_metrics_scrape_errors_total."""

    def __init__(self, name: str, read: Callable[[], Iterable[Metric]], metrics: Metrics) -> None:
        self.name = name
        self.read = read
        self._errors = metrics.scrape_errors.labels(name)

    def describe(self) -> list[Metric]:
        return []  # nothing is read when the collector is registered

    def collect(self) -> list[Metric]:
        try:
            return list(self.read())
        except Exception as exc:
            log.warning("metrics: the %s collector failed: %s", self.name, str(exc)[:300])
            self._errors.inc()
            return []


@contextmanager
def bounded(c: Connection, timeout_s: float = SCRAPE_QUERY_TIMEOUT_S) -> Iterator[Connection]:
    """`c` (in a transaction the caller rolls back) with its statements giving up after `timeout_s` (PostgreSQL:
    statement_timeout for the transaction; SQLite: a progress handler interrupting the statement), so a scrape
    never hangs on a busy database."""
    raw = c.connection.driver_connection if c.dialect.name == "sqlite" else None
    if c.dialect.name == "postgresql":
        c.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
    elif raw is not None:
        deadline = time.monotonic() + timeout_s
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), SQLITE_PROGRESS_STEPS)
    try:
        yield c
    finally:
        if raw is not None:
            raw.set_progress_handler(None, SQLITE_PROGRESS_STEPS)


@dataclass(frozen=True)
class PortReading:
    """A port's health as its worker last saw it."""

    port: str
    state: str
    signal_dbm: int | None
    storages: Mapping[str, tuple[int, int]]  # memory -> (used, total)
    restarts: int


def port_families(readings: Iterable[PortReading], states: Iterable[str]) -> list[Metric]:
    """The port gauges: state (one series per state, 1 for the current one), signal, storage; restarts."""
    names = list(states)
    state = GaugeMetricFamily("simhost_port_state", "The port worker's state: 1 for the state it is in, 0 for "
                              "the others.", labels=["port", "state"])
    signal = GaugeMetricFamily("simhost_port_signal_dbm", "The modem's received signal strength (AT+CSQ), in dBm; "
                               "absent while unknown.", labels=["port"])
    used = GaugeMetricFamily("simhost_port_storage_used_messages", "Messages stored in each message memory the "
                             "worker drains (SM, ME, ...).", labels=["port", "memory"])
    total = GaugeMetricFamily("simhost_port_storage_capacity_messages", "How many messages each memory holds.",
                              labels=["port", "memory"])
    restarts = CounterMetricFamily("simhost_port_restarts", "Sessions of the port that ended in a failure (the "
                                   "worker then opens the modem again).", labels=["port"])
    for r in readings:
        for name in names:
            state.add_metric([r.port, name], 1.0 if name == r.state else 0.0)
        if r.signal_dbm is not None:
            signal.add_metric([r.port], float(r.signal_dbm))
        for memory, (in_use, capacity) in sorted(r.storages.items()):
            used.add_metric([r.port, memory], float(in_use))
            total.add_metric([r.port, memory], float(capacity))
        restarts.add_metric([r.port], float(r.restarts))
    return [state, signal, used, total, restarts]


def backlog_families(unpublished: int, queued_sends: Mapping[str, int]) -> list[Metric]:
    """The gateway's database gauges: the spool's backlog and the send queue's depth per port."""
    spool = GaugeMetricFamily("simhost_spool_backlog_messages", "Outbox rows (inbound messages, send outcomes) "
                              "not yet done: unpublished, or waiting for a router's confirmation.",
                              value=float(unpublished))
    sends = GaugeMetricFamily("simhost_send_queue_depth", "Sends queued for a port, not yet on the air.",
                              labels=["port"])
    for port, count in sorted(queued_sends.items()):
        sends.add_metric([port], float(count))
    return [spool, sends]


def delivery_queue_families(pending: Mapping[str, int]) -> list[Metric]:
    """The delivery queue's depth: pending deliveries by channel."""
    family = GaugeMetricFamily("simhost_delivery_queue_depth", "Deliveries pending (due now or waiting for a "
                               "retry), by channel.", labels=["channel"])
    for channel, count in sorted(pending.items()):
        family.add_metric([channel], float(count))
    return [family]


# ---- the endpoint -------------------------------------------------------------------------------------------


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets, [::1]:9100) as (host, port); ConfigError if it is not one."""
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"metrics address {shown(value)}: give HOST:PORT, e.g. 127.0.0.1:9100")
    return host, int(port)


def offset_listen(value: str, offset: int) -> str:
    """HOST:PORT with the port moved up by `offset` (each gateway process has its own port); port 0 stays 0."""
    host, port = parse_listen(value)
    if port and port + offset > 65535:
        raise ConfigError(f"metrics address {shown(value)}: port {port} + {offset} is past 65535")
    shown_host = f"[{host}]" if ":" in host else host
    return f"{shown_host}:{port + offset if port else 0}"


class MetricsServer:
    """The HTTP endpoint (`/metrics`, any path in fact) serving one registry, on a thread of its own."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def serve(listen: str, metrics: Metrics) -> MetricsServer:
    """Start serving `metrics` at `listen` (HOST:PORT; port 0: any free port, see `MetricsServer.address`).
    An address that cannot be bound raises OSError."""
    host, port = parse_listen(listen)
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    thread.name = "simhost-metrics"
    return MetricsServer(server, thread)
