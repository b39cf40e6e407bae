"""The router service: consumes inbound messages over a shared subscription, routes and republishes them."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.delivery.queue import enqueue
from simhost.metrics import Metrics
from simhost.mqtt import AckingPublisher, broker_link, make_client, service_client_id, taken_over
from simhost.payloads import PayloadError, parse_object
from simhost.registry.models import Customer, RoutedMessage, SentLog, current_version
from simhost.registry.snapshot import load_directory, record_send
from simhost.router.decide import REPLY_WINDOW, Decision, decide, routed_payload
from simhost.router.directory import Directory, SendEntry
from simhost.sending.requests import accept, expire, parse_request
from simhost.statuses import STOPPED, port_offline
from simhost.topics import SCHEMA_VERSION, Topics

log = logging.getLogger("simhost.router")

BATCH_MAX = 500
REFRESH_INTERVAL_S = 1.0
SESSION_EXPIRY_S = 24 * 3600
KEEPALIVE_S = 30
SENT_LOOKBACK_IDS = 1000
ID_MAX = 128  # the length of routed_messages.id
RAW_KEPT_CHARS = 64 * 1024  # of a bad payload, kept and republished for inspection
ERROR_TEXT_MAX = 300
CONFIRM_BATCH = 500
SEND_EXPIRY_CHECK_S = 60.0  # ids in one confirmation message


@dataclass
class _Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    at: float | None = None  # monotonic, when it arrived from the broker


@dataclass
class _Output:
    key: str
    topic: str
    payload: str
    mids: list[int] = field(default_factory=list)
    retain: bool = False
    port: str | None = None  # the port whose gateway waits for the router's confirmation of this message
    arrived_at: float | None = None  # monotonic, when the inbound message arrived


def _bad_key(m: _Incoming) -> str:
    """A stable id for a payload that has none of its own (the same bytes on a topic, the same id)."""
    return "bad-" + hashlib.sha256(m.topic.encode() + b"\0" + m.payload).hexdigest()[:40]


def _infrastructure(exc: BaseException) -> bool:
    """Whether `exc` is the database failing (retry the batch later) rather than one message being wrong."""
    return isinstance(exc, OperationalError | InterfaceError | DisconnectionError | SqlTimeoutError)


def _error_text(exc: BaseException) -> str:
    """`Type: message` on one line, cut short (a hostile payload must not fill the log)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {_clip(text, ERROR_TEXT_MAX)}"


def _clip(text: str, limit: int = RAW_KEPT_CHARS) -> str:
    """`text` cut to `limit` characters (marked), without NUL characters (PostgreSQL text cannot hold them)."""
    text = text.replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


class Router:
    """One router process (or thread): decisions are pure, this class does the I/O around them.

    An inbound message is acknowledged to the broker only after its routed copy was acknowledged
    (QoS 1 both ways), and every decision is kept in the `routed_messages` table keyed by message id,
    so a redelivered message is published at most once more and never lost.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        router_id: str | None = None,
        group: str = "routers",
        reply_window: timedelta = REPLY_WINDOW,
        refresh_interval_s: float = REFRESH_INTERVAL_S,
        metrics: Metrics | None = None,
        on_deliveries: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        # told after deliveries were queued with decisions (a delivery service in this process takes them at once
        # instead of at its next poll)
        self.on_deliveries = on_deliveries
        self.sessions = sessions
        self.topics = Topics(settings.topic_prefix)
        self.router_id = router_id or socket.gethostname()
        self.group = group
        self.reply_window = reply_window
        self.refresh_interval_s = refresh_interval_s
        self.directory = Directory()
        self.routed = 0
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self._incoming: queue.Queue[_Incoming] = queue.Queue()
        self._acked: queue.Queue[str] = queue.Queue()
        self._waiting: dict[str, _Output] = {}
        self._lock = threading.Lock()
        self._version: int | None = None
        self._sent_watermark = 0
        self._sent_seen: set[int] = set()
        self._poll_sends_now = False
        self._inbound_prefix = self.topics.inbound_all[:-1]
        self._next_expiry = 0.0
        self._confirmations: dict[str, list[str]] = {}  # port -> ids routed since the last confirmations went out
        self.publisher = AckingPublisher(settings.mqtt, "simhost-router-pub", self._on_published)
        status_topic = self.topics.router_status(self.router_id)
        self.takeovers = 0  # disconnects the broker said were a session takeover
        self.disconnects = 0  # connections lost, whatever the reason
        self.last_disconnect: str | None = None
        self.client_id = service_client_id(settings.mqtt, "router", f"{self.topics.prefix}-{self.router_id}")
        if not settings.mqtt.password:
            log.warning("no MQTT password: the router's client id %s can be guessed, and a client connecting "
                        "with it takes the router's session (give the router its service account)", self.client_id)
        self.subscriptions: list[str] = []
        self.subscriber = make_client(settings.mqtt, "simhost-router", client_id=self.client_id,
                                      manual_ack=True,
                                      will=(status_topic, json.dumps({"state": "offline", "router": self.router_id,
                                                                      "reason": "connection lost"})))
        self.subscriber.on_connect = self._on_connect
        self.subscriber.on_subscribe = self._on_subscribed
        self.subscriber.on_message = self._on_message
        self.subscriber.on_disconnect = self._on_disconnect
        self._thread = threading.Thread(target=self._run, name="simhost-router", daemon=True)

    # ---- MQTT callbacks (paho's threads) ------------------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        broker_link(self.settings.mqtt).connected()
        if getattr(reason, "is_failure", False):
            log.error("router could not connect to %s: %s", self.settings.mqtt, reason)
            return
        share = f"$share/{self.group}"
        self.subscriptions = [
            f"{share}/{self.topics.inbound_all}",
            f"{share}/{self.topics.sent}",
            f"{share}/{self.topics.owner_sent_all}",
            f"{share}/{self.topics.send}",
            f"{share}/{self.topics.owner_send_all}",
            f"{self.topics.base}/gateways/+/status",
        ]
        client.subscribe([(topic, 1) for topic in self.subscriptions])

    def _on_subscribed(self, client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode],
                       _props: Any) -> None:
        refused = [topic for topic, r in zip(self.subscriptions, reasons, strict=False) if r.is_failure]
        if refused:
            # a broker that checks subscriptions (the dynamic-security plugin) grants the router one group only
            log.error("router %s: the broker refused the subscription(s) %s: is the router group the one "
                      "`simhost mqtt sync` granted (services.json)?", self.router_id, ", ".join(refused))
        status: dict[str, Any] = {"state": "online", "router": self.router_id, "group": self.group}
        if self.takeovers:
            status["session_taken_over"] = self.takeovers
            status["last_error"] = (f"the router's MQTT session was taken over {self.takeovers} time(s) by another "
                                    "client using its client id")
        if self.disconnects:
            status["disconnects"] = self.disconnects
            status["last_disconnect"] = self.last_disconnect
        client.publish(self.topics.router_status(self.router_id), json.dumps(status), qos=1, retain=True)
        self.ready.set()

    def _on_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if self.stopping.is_set():
            return
        self.disconnects += 1
        self.last_disconnect = f"{datetime.now(UTC).isoformat()}: {reason}"
        if taken_over(reason):
            self.takeovers += 1
            log.error("router %s: its MQTT session was taken over by another client using its client id "
                      "(%d time(s) so far); taking it back", self.router_id, self.takeovers)
        else:
            # Mosquitto before 2.0.15 closes a taken-over connection without the "session taken over" reason
            log.warning("router %s: connection to %s lost (%s); reconnecting. If this repeats while the broker is "
                        "up, another client may be using the router's client id", self.router_id,
                        self.settings.mqtt, reason)

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        self._incoming.put(_Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, time.monotonic()))

    def _on_published(self, key: str) -> None:
        self._acked.put(key)
        self._incoming.put(_Incoming("", b"", 0, 0))  # wakes the routing thread

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self._refresh(force=True)
        self.publisher.start()
        target = self.settings.mqtt
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.subscriber.connect_async(target.host, target.port, keepalive=KEEPALIVE_S, clean_start=False,
                                      properties=props)
        self.subscriber.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._incoming.put(_Incoming("", b"", 0, 0))
        self._thread.join()
        info = self.subscriber.publish(self.topics.router_status(self.router_id),
                                       json.dumps({"state": "offline", "router": self.router_id, "reason": "stopped"}),
                                       qos=1, retain=True)
        if self.subscriber.is_connected():
            info.wait_for_publish(timeout=2.0)
        self.subscriber.disconnect()
        self.subscriber.loop_stop()
        self.publisher.stop()

    # ---- the routing thread -------------------------------------------------------------------------

    def _run(self) -> None:
        next_refresh = time.monotonic() + self.refresh_interval_s
        while not self.stopping.is_set():
            batch: list[_Incoming] = []
            try:
                batch.append(self._incoming.get(timeout=max(0.0, next_refresh - time.monotonic())))
                while len(batch) < BATCH_MAX:
                    batch.append(self._incoming.get_nowait())
            except queue.Empty:
                pass
            real = [m for m in batch if m.topic]
            try:
                self._settle_acks()
                if real:
                    self._process(real)
                self._send_confirmations()
                if time.monotonic() >= next_refresh or self._poll_sends_now:
                    self._refresh()
                    next_refresh = time.monotonic() + self.refresh_interval_s
            except Exception:
                # The batch is taken again (decisions and the published record are idempotent by id),
                # since the broker only redelivers unacknowledged messages after a reconnect.
                log.exception("routing step failed; retrying in 1 s")
                for m in real:
                    self._incoming.put(m)
                self.stopping.wait(1.0)

    def _refresh(self, *, force: bool = False) -> None:
        if time.monotonic() >= self._next_expiry:
            self._next_expiry = time.monotonic() + SEND_EXPIRY_CHECK_S
            with self.sessions.begin() as s:
                expired = expire(s, self.topics)
            if expired:
                log.warning("%d send(s) expired: no gateway sent them within a day", expired)
        with self.sessions() as s:
            version = current_version(s)
            if force or version != self._version:
                watermark = s.scalar(select(func.coalesce(func.max(SentLog.id), 0))) or 0
                self.directory = load_directory(s)
                self._version, self._sent_watermark = version, watermark
                self._sent_seen = set(s.scalars(select(SentLog.id).where(SentLog.id > watermark - SENT_LOOKBACK_IDS)))
                log.info("directory loaded: %d customers, %d numbers (registry version %s)",
                         len(self.directory.customers), len(self.directory.numbers), version)
            else:
                # Ids can commit out of order (PostgreSQL sequences): look back a little and skip ids seen.
                rows = s.execute(
                    select(SentLog.id, SentLog.to_subscriber, SentLog.at, SentLog.owner_id)
                    .where(SentLog.id > self._sent_watermark - SENT_LOOKBACK_IDS).order_by(SentLog.id)
                ).all()
                fresh = [r for r in rows if r.id > self._sent_watermark or r.id not in self._sent_seen]
                if fresh:
                    logins = self._logins(s, {r.owner_id for r in fresh})
                    for r in fresh:
                        at = r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=UTC)
                        self.directory.add_send(SendEntry(r.to_subscriber, logins.get(r.owner_id, ""), at))
                if rows:
                    self._sent_watermark = max(self._sent_watermark, rows[-1].id)
                    self._sent_seen = {r.id for r in rows if r.id > self._sent_watermark - SENT_LOOKBACK_IDS}
        self._poll_sends_now = False

    @staticmethod
    def _logins(s: Session, ids: set[int]) -> dict[int, str]:
        return dict(s.execute(select(Customer.id, Customer.login).where(Customer.id.in_(ids))).tuples().all())

    def _settle_acks(self) -> None:
        done: list[str] = []
        while True:
            try:
                done.append(self._acked.get_nowait())
            except queue.Empty:
                break
        if not done:
            return
        ids = []
        confirm: list[_Output] = []
        for key in done:
            with self._lock:
                out = self._waiting.pop(key, None)
            if out is None:
                continue
            for mid in out.mids:
                self.subscriber.ack(mid, 1)
            if not key.startswith("status:"):
                ids.append(key)
                confirm.append(out)
        if ids:
            with self.sessions.begin() as s:
                s.execute(update(RoutedMessage).where(RoutedMessage.id.in_(ids))
                          .values(published_at=datetime.now(UTC)))
        for out in confirm:
            self._confirm(out)

    def _confirm(self, out: _Output) -> None:
        """Queue the gateway's confirmation of an inbound message whose decision is stored and published."""
        if out.port is not None:
            self._confirmations.setdefault(out.port, []).append(out.key)

    def _send_confirmations(self) -> None:
        """Tell the gateways which of their messages are routed (QoS 1; one that is lost makes the gateway publish
        the message again, which the router then confirms again without routing it twice)."""
        pending, self._confirmations = self._confirmations, {}
        for port, ids in pending.items():
            for start in range(0, len(ids), CONFIRM_BATCH):
                self.publisher.client.publish(self.topics.acks(port),
                                              json.dumps({"ids": ids[start:start + CONFIRM_BATCH],
                                                          "router": self.router_id}), qos=1)

    def _process(self, batch: list[_Incoming]) -> None:
        decided: dict[str, tuple[_Output, Decision | None, dict[str, Any]]] = {}
        for m in batch:
            try:
                self._take(m, decided)
            except Exception as exc:  # whatever one message does wrong is that message's alone
                if _infrastructure(exc):
                    raise  # the database, not the message: the batch is taken again
                self._reject(m, exc, decided)
        if decided:
            self._store_each(decided)

    def _take(self, m: _Incoming, decided: dict[str, tuple[_Output, Decision | None, dict[str, Any]]]) -> None:
        if m.topic.startswith(self._inbound_prefix):
            key, out, decision, message = self._route(m)
            if key in decided:
                decided[key][0].mids.append(m.mid)
            else:
                out.mids.append(m.mid)
                decided[key] = (out, decision, message)
        elif m.topic == self.topics.sent:
            self._handle_sent(m, None)
        elif m.topic == self.topics.send:
            self._handle_send(m, None)
        elif (login := self._owner_of(m.topic, "/send")) is not None:
            self._handle_send(m, login)
        elif (login := self._owner_of(m.topic, "/sent")) is not None:
            self._handle_sent(m, login)
        elif m.topic.endswith("/status"):
            self._handle_gateway_status(m)
        else:
            self._ack(m)

    def _reject(self, m: _Incoming, exc: Exception,
                decided: dict[str, tuple[_Output, Decision | None, dict[str, Any]]]) -> None:
        """Keep a message that could not be handled on the unrouted topic, with the error, and acknowledge it."""
        key = _bad_key(m)
        reason = f"bad payload on {m.topic}: {_error_text(exc)}"
        log.warning("%s", reason)
        if key in decided:
            decided[key][0].mids.append(m.mid)
            return
        payload = self._bad_payload(key, m, reason)
        decided[key] = (_Output(key, self.topics.unrouted, json.dumps(payload, ensure_ascii=False), [m.mid],
                                arrived_at=m.at), None, payload)

    def _store_each(self, decided: dict[str, tuple[_Output, Decision | None, dict[str, Any]]]) -> None:
        """Store and publish the batch in one transaction; should the database refuse one message's row (a value
        it cannot hold), each message is stored alone and the refused ones are kept as bad payloads."""
        try:
            self._store_and_publish(decided)
            return
        except StatementError as exc:
            if _infrastructure(exc):
                raise
            log.warning("a batch of %d messages was refused (%s); storing them one by one", len(decided),
                        _error_text(exc))
        for key, entry in decided.items():
            try:
                self._store_and_publish({key: entry})
            except StatementError as exc:
                if _infrastructure(exc):
                    raise
                out, _decision, message = entry
                bad_key = f"bad-{key}"[:128] if not key.startswith("bad-") else key + "-row"
                reason = f"the database refused message {key[:80]!r}: {_error_text(exc)}"
                log.warning("%s", reason)
                refused = _Incoming(out.topic, json.dumps(message, ensure_ascii=False).encode(), 0, 0)
                payload = self._bad_payload(bad_key, refused, reason)
                self._store_and_publish({bad_key: (_Output(bad_key, self.topics.unrouted,
                                                           json.dumps(payload, ensure_ascii=False), out.mids,
                                                           arrived_at=out.arrived_at),
                                                   None, payload)})

    def _ack(self, m: _Incoming) -> None:
        if m.qos:
            self.subscriber.ack(m.mid, m.qos)

    def _route(self, m: _Incoming) -> tuple[str, _Output, Decision | None, dict[str, Any]]:
        message = parse_object(m.payload)
        key = message.get("id")
        if not isinstance(key, str) or not key or len(key) > ID_MAX:
            raise PayloadError(f"`id` must be a string of 1 to {ID_MAX} characters")
        now = _parse_time(message.get("received_at")) or datetime.now(UTC)
        decision = decide(message, self.directory, now, reply_window=self.reply_window,
                          topic_port=m.topic[len(self._inbound_prefix):])
        payload = routed_payload(message, decision)
        topic = self.topics.owner_messages(decision.owner) if decision.status == "routed" and decision.owner \
            else self.topics.unrouted
        out = _Output(key, topic, json.dumps(payload, ensure_ascii=False), port=m.topic[len(self._inbound_prefix):],
                      arrived_at=m.at)
        return key, out, decision, message

    def _bad_payload(self, key: str, m: _Incoming, reason: str) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION, "id": key, "kind": "bad-payload", "status": "unrouted",
            "reason_code": "bad-payload", "reason": reason, "topic": _clip(m.topic, ERROR_TEXT_MAX),
            "raw": _clip(m.payload[:RAW_KEPT_CHARS * 4].decode("utf-8", errors="replace")),
            "raw_bytes": len(m.payload),
            "received_at": datetime.now(UTC).isoformat(),
        }

    def _store_and_publish(self, decided: dict[str, tuple[_Output, Decision | None, dict[str, Any]]]) -> None:
        ids = list(decided)
        to_publish: list[_Output] = []
        stored: list[_Output] = []  # with the rows inserted, in their order
        with self.sessions.begin() as s:
            known = {r.id: r for r in s.execute(
                select(RoutedMessage.id, RoutedMessage.topic, RoutedMessage.payload, RoutedMessage.published_at)
                .where(RoutedMessage.id.in_(ids)))}
            now = datetime.now(UTC)
            rows = []
            queued = 0
            for key, (out, decision, message) in decided.items():
                row = known.get(key)
                if row is not None and row.published_at is not None:
                    for mid in out.mids:  # routed and published before: only the broker's copy is left
                        self.subscriber.ack(mid, 1)
                    self._confirm(out)
                    continue
                if row is not None:
                    out.topic, out.payload = row.topic or out.topic, row.payload
                else:
                    rows.append(self._row(key, out, decision, message, now))
                    stored.append(out)
                to_publish.append(out)
            if rows:
                s.execute(insert(RoutedMessage), rows)
                # with the decision, in its transaction: a message routed is never left undelivered
                queued = enqueue(s, rows, now)
        self._count_routed(rows, stored)
        if queued and self.on_deliveries is not None:
            self.on_deliveries()
        for out in to_publish:
            with self._lock:
                existing = self._waiting.get(out.key)
                if existing is not None:
                    existing.mids.extend(out.mids)
                    continue
                self._waiting[out.key] = out
            self.publisher.publish(out.key, out.topic, out.payload)
            self.routed += 1

    def _count_routed(self, rows: list[dict[str, Any]], outs: list[_Output]) -> None:
        """The metrics and the log line of each decision just committed (`rows`, of messages `outs`)."""
        committed_at = time.monotonic()
        verbose = log.isEnabledFor(logging.INFO)
        for row, out in zip(rows, outs, strict=True):
            status, rule = row["status"], row["reason_code"] or ""
            self.metrics.routed.labels(status, rule).inc()
            if out.arrived_at is not None:
                self.metrics.route_seconds.observe(committed_at - out.arrived_at)
            if verbose:
                owner = row["owner"]
                log.info("message %s %s%s (%s)", row["id"], status, f" to {owner}" if owner else "", rule,
                         extra={"message_id": row["id"], "status": status, "owner": owner, "rule": rule,
                                "kind": row["kind"]})

    def _row(self, key: str, out: _Output, decision: Decision | None, message: dict[str, Any],
             now: datetime) -> dict[str, Any]:
        sender = message.get("sender")
        text = message.get("text")
        return {
            "id": key,
            "kind": str(message.get("kind") or "bad-payload")[:16],
            "status": decision.status if decision else "unrouted",
            "owner": decision.owner if decision else None,
            "number": decision.number if decision else None,
            "number_kind": decision.number_kind if decision else None,
            "sender": _clip(sender, ERROR_TEXT_MAX) if isinstance(sender, str) else None,
            "rule": decision.rule if decision else None,
            "reason_code": decision.reason_code if decision else "bad-payload",
            "reason": decision.reason if decision else str(message.get("reason")),
            "text": _clip(text) if isinstance(text, str) else None,
            "received_at": _parse_time(message.get("received_at")) or now,
            "routed_at": now,
            "topic": out.topic,
            "payload": out.payload,
            "published_at": None,
        }

    def _owner_of(self, topic: str, tail: str) -> str | None:
        """The login in a customer's own topic (`<base>/owners/<login><tail>`), else None."""
        head = f"{self.topics.base}/owners/"
        if topic.startswith(head) and topic.endswith(tail):
            login = topic[len(head):-len(tail)]
            return login if login and "/" not in login else None
        return None

    def _handle_sent(self, m: _Incoming, topic_owner: str | None) -> None:
        """A send report: on the shared `sent` topic it names its owner; on a customer's own topic the owner is
        that customer, and a report naming someone else is rejected (the broker lets only them publish there)."""
        report = parse_object(m.payload)
        if topic_owner is not None:
            named = report.setdefault("owner", topic_owner)
            if named != topic_owner:
                raise PayloadError(f"the report names owner {str(named)[:40]!r} but was published on "
                                   f"{topic_owner}'s topic")
        missing = [k for k in ("from", "to", "owner") if not isinstance(report.get(k), str)]
        if missing:
            raise PayloadError(f"missing or non-string field(s): {', '.join(missing)}")
        at = _parse_time(report.get("at")) if report.get("at") is not None else datetime.now(UTC)
        if at is None:
            raise PayloadError(f"`at` is not an ISO 8601 time: {str(report.get('at'))[:40]!r}")
        with self.sessions.begin() as s:
            record_send(s, str(report["from"]), str(report["to"]), str(report["owner"]), at, "mqtt",
                        self.settings.region)
        self._poll_sends_now = True
        self._ack(m)

    def _handle_send(self, m: _Incoming, topic_owner: str | None) -> None:
        """A request to send an SMS: stored queued (the gateway driving the port of its number sends it) or, if the
        customer may not send it, stored failed with the reason; either way the customer is told on its sends
        topic. A request repeating an earlier `id` is that send again, never a second SMS."""
        request = parse_request(parse_object(m.payload), topic_owner)
        with self.sessions.begin() as s:
            row, created = accept(s, request, region=self.settings.region, source="mqtt", topics=self.topics,
                                  max_parts=self.settings.send_max_parts)
        log.info("send %s from %s to %s: %s%s", row.id, row.requested_from, row.to_number, row.state,
                 "" if created else " (a repeated request)")
        self._ack(m)

    def _handle_gateway_status(self, m: _Incoming) -> None:
        """A gateway's will (or clean stop): its ports' retained statuses become `offline`."""
        status = parse_object(m.payload) if m.payload else {}  # an empty payload clears a retained status
        if status.get("state") != "offline" or status.get("reason") == STOPPED:
            self._ack(m)
            return  # a gateway that stopped cleanly has already published its ports' final statuses
        gateway, ports = status.get("gateway"), status.get("ports")
        if not isinstance(ports, list) or not all(isinstance(p, str) and p and "/" not in p for p in ports):
            raise PayloadError("`ports` must be a list of port names")
        if not isinstance(gateway, str | None):
            raise PayloadError("`gateway` must be a string")
        self._ack(m)
        now = datetime.now(UTC).isoformat()
        reason = str(status.get("reason", "unknown"))[:ERROR_TEXT_MAX]
        for port in ports:
            payload = port_offline(port, gateway, f"gateway {gateway} is offline ({reason})")
            key = f"status:{port}:{now}"
            out = _Output(key, self.topics.port_status(port), json.dumps(payload), retain=True)
            with self._lock:
                self._waiting[key] = out
            self.publisher.publish(key, out.topic, out.payload, retain=True)
