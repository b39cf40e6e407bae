"""The acking publisher against a real Mosquitto: done only on PUBACK, survives a broker outage."""

from __future__ import annotations

import threading
import uuid

from simhost.config import MqttTarget
from simhost.mqtt import AckingPublisher
from tests.brokerlib import PrivateBroker
from tests.mqttlib import Collector


class Acks:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.cond = threading.Condition()

    def __call__(self, key: str) -> None:
        with self.cond:
            self.keys.append(key)
            self.cond.notify_all()

    def wait(self, n: int, timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.keys) >= n, timeout_s)


def test_every_message_acked_and_received(broker: PrivateBroker) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}"
    sub = Collector(broker.url, f"{prefix}/#")
    acks = Acks()
    pub = AckingPublisher(MqttTarget.parse(broker.url), "test", acks)
    pub.start()
    try:
        for i in range(500):
            pub.publish(f"k{i}", f"{prefix}/m", f"payload {i}")
        assert acks.wait(500, 20)
        assert sorted(acks.keys) == sorted(f"k{i}" for i in range(500))
        got = sub.wait_for(500, 20)
        assert sorted(p for _t, p, _r in got) == sorted(f"payload {i}".encode() for i in range(500))
    finally:
        pub.stop()
        sub.close()


def test_published_while_broker_down_arrive_after_it_returns(own_broker: PrivateBroker) -> None:
    acks = Acks()
    pub = AckingPublisher(MqttTarget.parse(own_broker.url), "test", acks)
    pub.start()
    try:
        assert pub.connected.wait(10)
        own_broker.stop()
        for i in range(50):
            pub.publish(f"k{i}", "outage/m", f"{i}")
        assert acks.keys == []
        own_broker.start()
        assert acks.wait(50, 30), f"only {len(acks.keys)} acknowledged"
        assert sorted(acks.keys) == sorted(f"k{i}" for i in range(50))
    finally:
        pub.stop()
