"""A router running in-process against a private Mosquitto and a migrated SQLite registry, for service tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from simhost.cli import main
from simhost.config import Settings
from simhost.db import make_engine, make_sessions
from simhost.router.service import Router
from tests.brokerlib import PrivateBroker
from tests.mqttlib import Collector

PREFIX = "simhost"
VIRTUAL = "+79000000002"
VIRTUAL_ICCID = "89701990000000000025"
WAIT_S = 10.0


def cli(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--db", db_url, "--region", "RU", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def registry(db_url: str) -> None:
    """Customer acme with virtual number VIRTUAL, its SIM registered on port01."""
    cli(db_url, "db", "upgrade")
    cli(db_url, "port", "add", "port01", "--url", "/dev/null")
    cli(db_url, "owner", "add", "acme", "--verified")
    cli(db_url, "slot", "add", "--bank", "1", "--slot", "1", "--iccid", VIRTUAL_ICCID, "--msisdn", VIRTUAL,
        "--kind", "virtual", "--owner", "acme", "--port", "port01")


def inbound(text: str, *, port: str = "port01", number: str = VIRTUAL, **extra: Any) -> dict[str, Any]:
    """An inbound SMS as the gateway publishes it, with a fresh id."""
    return {"schema": 1, "id": f"test-{uuid.uuid4().hex}", "kind": "sms", "number": number, "port": port,
            "iccid": VIRTUAL_ICCID, "sender": "+79161111111", "sender_type": "international", "text": text,
            "received_at": datetime.now(UTC).isoformat(), "parts": 1, "incomplete": False, **extra}


class Publisher:
    """A plain MQTT client that publishes at QoS 1 and waits for each PUBACK."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        port = int(url.rsplit(":", 1)[1])
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"test-pub-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str | dict[str, Any], *, retain: bool = False) -> None:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        self.client.publish(topic, data, qos=1, retain=retain).wait_for_publish(timeout=WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class RouterSite:
    broker: PrivateBroker
    router: Router
    db_url: str
    owners: Collector
    unrouted: Collector
    pub: Publisher

    def routed_ids(self) -> set[str]:
        return {p["id"] for p in self.owners.json_payloads()}

    def wait_routed(self, message_id: str, timeout_s: float = WAIT_S) -> bool:
        return self.owners.wait_until(lambda: message_id in self.routed_ids(), timeout_s)

    def unrouted_with(self, code: str) -> list[dict[str, Any]]:
        return [p for p in self.unrouted.json_payloads() if p.get("reason_code") == code]


@contextmanager
def router_site(tmp_path: Path, **router_options: Any) -> Iterator[RouterSite]:
    broker = PrivateBroker()
    broker.start()
    db_url = f"sqlite:///{tmp_path / 'simhost.db'}"
    registry(db_url)
    engine = make_engine(db_url)
    settings = Settings(db_url=db_url, mqtt_url=broker.url, topic_prefix=PREFIX, region="RU")
    router = Router(settings, make_sessions(engine), router_id="test-router", refresh_interval_s=0.2,
                    **router_options)
    owners = Collector(broker.url, f"{PREFIX}/v1/owners/+/messages")
    unrouted = Collector(broker.url, f"{PREFIX}/v1/unrouted")
    pub = Publisher(broker.url)
    router.start()
    try:
        assert router.ready.wait(WAIT_S), "the router did not subscribe"
        yield RouterSite(broker, router, db_url, owners, unrouted, pub)
    finally:
        router.stop()
        pub.close()
        owners.close()
        unrouted.close()
        engine.dispose()
        broker.close()
