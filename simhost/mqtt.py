"""MQTT client factory (paho-mqtt 2, MQTT v5) and the outbox publisher that marks rows done only on PUBACK."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from simhost.config import MqttTarget

log = logging.getLogger("simhost.mqtt")

RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
KEEPALIVE_S = 30
MAX_INFLIGHT = 100
SESSION_TAKEN_OVER = 142  # MQTT v5 DISCONNECT reason: another client connected with this client id
CLIENT_ID_TAG_CHARS = 24


def service_client_id(target: MqttTarget, kind: str, name: str) -> str:
    """A stable client id for a service's persistent session that no customer can guess.

    Any client may choose its id, and the broker gives a connecting client the session of that id, taking it from
    whoever held it: an id such as `simhost-router-<host>` lets a customer steal the router's messages. The id is
    therefore derived from the service account's password (HMAC), which customers never see; without a password
    (an open broker, where anyone may do anything anyway) it is the plain name.
    """
    if not target.password:
        return f"simhost-{kind}-{name}"
    tag = hmac.new(target.password.encode(), f"{kind}/{name}".encode(), hashlib.sha256).hexdigest()
    return f"simhost-{kind}-{tag[:CLIENT_ID_TAG_CHARS]}"


def random_client_id(prefix: str) -> str:
    """A fresh, unguessable id for a clean session."""
    return f"{prefix}-{secrets.token_hex(12)}"


def taken_over(reason: ReasonCode | int | None) -> bool:
    """Whether a disconnect's reason says another client took this client's session (same client id)."""
    if isinstance(reason, ReasonCode):
        return reason.value == SESSION_TAKEN_OVER
    return reason == SESSION_TAKEN_OVER


class _BrokerLink:
    """Whether the broker at one address answers, shared by every client of this process: an outage is said once,
    in one line, however many clients keep trying, and so is the broker's return."""

    def __init__(self, target: MqttTarget) -> None:
        self.target = target
        self.down = False
        self.failures = 0
        self.lock = threading.Lock()

    def failed(self) -> None:
        with self.lock:
            self.failures += 1
            first, self.down = not self.down, True
        if first:
            log.error("cannot reach the MQTT broker at %s (nothing answers there); retrying every %d to %d s",
                      self.target, RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)

    def connected(self) -> None:
        with self.lock:
            was_down, self.down = self.down, False
            failures, self.failures = self.failures, 0
        if was_down:
            log.warning("the MQTT broker at %s answers again (after %d failed attempts)", self.target, failures)


_LINKS: dict[str, _BrokerLink] = {}
_LINKS_LOCK = threading.Lock()


def broker_link(target: MqttTarget) -> _BrokerLink:
    """The shared reachability record of `target`'s broker."""
    with _LINKS_LOCK:
        return _LINKS.setdefault(str(target), _BrokerLink(target))


def make_client(
    target: MqttTarget,
    client_id_prefix: str,
    *,
    will: tuple[str, str] | None = None,
    client_id: str | None = None,
    manual_ack: bool = False,
) -> paho.Client:
    """A paho client for `target`; `will` is (topic, payload), published retained at QoS 1.

    Without `client_id` the id is the prefix plus a random suffix (a fresh session each start);
    with one, the caller can keep a persistent session across restarts.
    """
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id or random_client_id(client_id_prefix),
        protocol=paho.MQTTv5,
        manual_ack=manual_ack,
    )
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
    link = broker_link(target)
    client.on_connect_fail = lambda _client, _userdata: link.failed()
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.max_queued_messages_set(0)
    return client


class AckingPublisher:
    """Publishes at QoS 1 and calls `on_acked(key)` when the broker's PUBACK for that message arrives.

    paho keeps unacknowledged QoS 1 messages and sends them again after a reconnect, so each key is
    handed to paho once per process; whatever was not acknowledged before a crash is still pending
    in the caller's durable store and is published again at the next start.
    """

    def __init__(
        self,
        target: MqttTarget,
        client_id_prefix: str,
        on_acked: Callable[[str], None],
        *,
        will: tuple[str, str] | None = None,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self.target = target
        self._on_acked = on_acked
        self._on_connect_cb = on_connect
        self._name = client_id_prefix
        self._ever_connected = False
        self._lock = threading.Lock()
        self._pending: dict[int, str] = {}
        self._early_acks: set[int] = set()
        self.connected = threading.Event()
        self._stopping = False
        self.client = make_client(target, client_id_prefix, will=will)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_publish = self._handle_publish

    def start(self) -> None:
        self.client.connect_async(self.target.host, self.target.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, key: str, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        # paho calls on_publish under its own lock, so ours must not be held across publish().
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._lock:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                acked = True
            else:
                self._pending[info.mid] = key
                acked = False
        if acked:
            self._on_acked(key)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)

    def _handle_connect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        broker_link(self.target).connected()
        if reason.is_failure:
            log.error("MQTT broker %s refused the connection: %s", self.target, reason)
            return
        if self._ever_connected:
            log.warning("%s: reconnected to MQTT broker %s", self._name, self.target)
        else:
            log.info("%s: connected to MQTT broker %s", self._name, self.target)
        self._ever_connected = True
        self.connected.set()
        if self._on_connect_cb is not None:
            self._on_connect_cb()

    def _handle_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if taken_over(reason):
            log.error("MQTT session of %s taken over by another client with the same client id; reconnecting",
                      self._name)
        elif self.connected.is_set():
            level = logging.INFO if self._stopping else logging.WARNING
            log.log(level, "%s: disconnected from MQTT broker %s: %s", self._name, self.target, reason)
        self.connected.clear()

    def _handle_publish(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        with self._lock:
            key = self._pending.pop(mid, None)
            if key is None:
                # The PUBACK arrived before publish() returned and registered the mid.
                self._early_acks.add(mid)
                return
        if reason.is_failure:
            log.error("broker rejected message %s: %s", key, reason)
            return
        self._on_acked(key)
