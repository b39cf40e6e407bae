"""The ports' retained statuses as the gateways publish them, read from the broker for `simhost status`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from simhost.config import MqttTarget
from simhost.mqtt import KEEPALIVE_S, make_client
from simhost.payloads import PayloadError, parse_object
from simhost.topics import Topics

CONNECT_TIMEOUT_S = 2.0
# The broker sends the retained statuses right after the subscription's acknowledgement, with no mark at the end:
# the burst is taken as over once nothing came for this long.
QUIET_S = 0.3
COLLECT_TIMEOUT_S = 2.0
OFFLINE = "offline"


@dataclass(frozen=True)
class PortReport:
    """One port's status as last published (fields of the wrong type in a payload read as unknown)."""

    port: str
    state: str
    gateway: str | None = None
    signal_dbm: int | None = None
    operator: str | None = None
    registration: str | None = None
    iccid: str | None = None
    msisdn: str | None = None
    storage_used: int | None = None
    storage_total: int | None = None
    storage_memory: str | None = None
    balance: str | None = None
    last_error: str | None = None
    since: str | None = None

    def after(self, newer: PortReport) -> PortReport:
        """`newer`, with what this report knew and an offline status (a router's says only that) leaves out."""
        if newer.state != OFFLINE:
            return newer
        kept = {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(newer, f.name) is None and f.name not in ("last_error", "signal_dbm")}
        return replace(newer, **kept)


def _text(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _number(data: Mapping[str, object], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _balance(value: object) -> str | None:
    """A balance as a number, a text, or {"amount", "currency"}."""
    if isinstance(value, Mapping):
        amount = value.get("amount")
        if isinstance(amount, int | float | str) and not isinstance(amount, bool):
            currency = value.get("currency")
            return f"{amount} {currency}" if isinstance(currency, str) and currency else str(amount)
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool) and value != "":
        return str(value)
    return None


def parse_report(port: str, payload: bytes) -> PortReport | None:
    """The report in a status payload; None for an empty one (a cleared status). PayloadError if unreadable."""
    if not payload:
        return None
    data = parse_object(payload)
    storage = data.get("storage")
    storage = storage if isinstance(storage, Mapping) else {}
    return PortReport(
        port=port, state=_text(data, "state") or "unknown", gateway=_text(data, "gateway"),
        signal_dbm=_number(data, "signal_dbm"), operator=_text(data, "operator"),
        registration=_text(data, "registration"), iccid=_text(data, "iccid"), msisdn=_text(data, "msisdn"),
        storage_used=_number(storage, "used"), storage_total=_number(storage, "total"),
        storage_memory=_text(data, "storage_memory"), balance=_balance(data.get("balance")),
        last_error=_text(data, "last_error"), since=_text(data, "since"),
    )


class StatusFeed:
    """Subscribes to every port's status topic and keeps each port's newest report; `on_change` is called (on the
    MQTT thread) after each one. `start()` connects once and says why it could not; `start_async()` keeps trying."""

    def __init__(self, target: MqttTarget, topics: Topics, on_change: Callable[[], None] | None = None) -> None:
        self.target = target
        self.filter = topics.port_status("+")
        self._on_change = on_change
        self._lock = threading.Lock()
        self._reports: dict[str, PortReport] = {}
        self._last_message = 0.0
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self._answered = threading.Event()
        self.error: str | None = None  # why the broker is not reachable now
        self._closing = False
        self.client = make_client(target, "simhost-status")
        self.client.connect_timeout = CONNECT_TIMEOUT_S
        self.client.on_connect = self._handle_connect
        self.client.on_connect_fail = self._handle_connect_fail
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_subscribe = self._handle_subscribe
        self.client.on_message = self._handle_message

    def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
        """Connect and subscribe, waiting up to `timeout_s`; False (with `error` set) when the broker is not there."""
        try:
            self.client.connect(self.target.host, self.target.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as exc:
            self.error = f"cannot reach the MQTT broker at {self.target}: {exc}"
            return False
        self.client.loop_start()
        if not self._answered.wait(timeout_s):
            self.error = f"the MQTT broker at {self.target} did not answer within {timeout_s:g} s"
        return self._connected.is_set()

    def start_async(self) -> None:
        """Connect in the background, again after every loss."""
        self.client.connect_async(self.target.host, self.target.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def settle(self, quiet_s: float = QUIET_S, timeout_s: float = COLLECT_TIMEOUT_S) -> None:
        """Wait until the retained statuses have arrived: `quiet_s` without a message after the subscription was
        acknowledged, `timeout_s` at most."""
        deadline = time.monotonic() + timeout_s
        if not self._subscribed.wait(max(0.0, deadline - time.monotonic())):
            return
        while True:
            with self._lock:
                quiet_until = self._last_message + quiet_s
            now = time.monotonic()
            if now >= min(quiet_until, deadline):
                return
            time.sleep(min(quiet_until, deadline) - now)

    def reports(self) -> dict[str, PortReport]:
        with self._lock:
            return dict(self._reports)

    def _handle_connect(self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                        _props: Properties | None) -> None:
        self._answered.set()
        if reason.is_failure:
            self.error = f"the MQTT broker at {self.target} refused the connection: {reason}"
            return
        self.error = None
        self._connected.set()
        client.subscribe(self.filter, qos=1)
        self._changed()

    def _handle_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        self.error = f"cannot reach the MQTT broker at {self.target}"
        self._changed()

    def _handle_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                           _props: Properties | None) -> None:
        if self._connected.is_set() and not self._closing:
            self.error = f"lost the MQTT broker at {self.target}: {reason}"
        self._connected.clear()
        self._changed()

    def _handle_subscribe(self, *_args: Any) -> None:
        with self._lock:
            self._last_message = time.monotonic()
        self._subscribed.set()

    def _handle_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        port = msg.topic.split("/")[-2]
        try:
            report = parse_report(port, bytes(msg.payload))
        except PayloadError:
            report = PortReport(port=port, state="unknown", last_error="unreadable status payload")
        with self._lock:
            self._last_message = time.monotonic()
            if report is None:
                self._reports.pop(port, None)
            else:
                previous = self._reports.get(port)
                self._reports[port] = report if previous is None else previous.after(report)
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
