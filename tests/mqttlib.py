"""A test subscriber: collects messages from a real broker and waits for them with a timeout."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from simhost.config import MqttTarget


class Collector:
    """Subscribes to `topics` (QoS 1) and keeps every message received, in order."""

    def __init__(self, url: str, *topics: str, session: str | None = None) -> None:
        target = MqttTarget.parse(url)
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition(threading.RLock())
        self._subscribed = threading.Event()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=session or f"test-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5)
        self.client.reconnect_delay_set(0, 1)
        self.topics = topics
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        props = None
        if session is not None:
            # A persistent session: the broker queues our QoS 1 messages while we are away.
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
        self.client.connect(target.host, target.port, clean_start=session is None, properties=props)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("test subscriber could not subscribe")

    def _on_connect(self, client: paho.Client, *_args: Any) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Wait until `predicate()` (called under the lock after each message) is true."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout_s)

    def json_payloads(self) -> list[dict[str, Any]]:
        with self._cond:
            return [json.loads(p) for _t, p, _r in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
