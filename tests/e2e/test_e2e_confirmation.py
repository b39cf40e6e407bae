"""End-to-end acknowledgement: the gateway keeps each message until a router confirmed it, so a broker restarted
without persistence, a router session taken over by another client, or a router that was not running loses
nothing; the router routes each message once however often it comes."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from simhost.config import Settings
from simhost.db import make_engine, make_sessions
from simhost.gateway.service import OutboxRelay
from simhost.gateway.spool import OUTBOX, PortIdentity
from simhost.registry.models import RoutedMessage
from simhost.router.service import Router
from simhost.topics import Topics
from tests.brokerlib import PrivateBroker
from tests.gateway.gwlib import WatchedSpool
from tests.mqttlib import Collector
from tests.router.routerlib import PREFIX, VIRTUAL, VIRTUAL_ICCID, registry

WHO = PortIdentity("port01", VIRTUAL_ICCID, VIRTUAL)
COUNT = 20
WAIT_S = 30.0
CONFIRM_TIMEOUT_S = 1.0


@dataclass
class Rig:
    broker: PrivateBroker
    settings: Settings
    spool: WatchedSpool
    relay: OutboxRelay
    sessions: object
    routers: list[Router]

    def calls(self, count: int) -> list[str]:
        """`count` calls committed by the gateway, each a message for customer acme."""
        start = datetime.now(UTC)
        return [self.spool.store_call(WHO, f"+7916{uuid.uuid4().int % 10**7:07d}", 145, start + timedelta(seconds=i))
                for i in range(count)]

    def router(self, router_id: str = "r1") -> Router:
        router = Router(self.settings, self.sessions, router_id=router_id, refresh_interval_s=0.2)  # type: ignore[arg-type]
        router.start()
        self.routers.append(router)
        assert router.ready.wait(WAIT_S)
        return router

    def stop_router(self, router: Router) -> None:
        router.stop()
        self.routers.remove(router)

    def wait_all_confirmed(self, ids: list[str]) -> None:
        """Until the gateway has every row done (a router confirmed it), then: each routed once and published."""
        assert self.spool.wait_ids(set(ids), WAIT_S), "not every message was confirmed by a router"
        with self.spool.engine.connect() as c:
            routed = c.scalar(select(func.count()).select_from(RoutedMessage.__table__)
                              .where(RoutedMessage.id.in_(ids), RoutedMessage.published_at.is_not(None)))
            left = c.scalar(select(func.count()).select_from(OUTBOX)
                            .where(OUTBOX.c.id.in_(ids), OUTBOX.c.published_at.is_(None)))
        assert (routed, left) == (len(ids), 0)


@contextmanager
def rig(tmp_path: Path) -> Iterator[Rig]:
    broker = PrivateBroker()
    broker.start()
    db_url = f"sqlite:///{tmp_path / 'simhost.db'}"
    registry(db_url)
    engine = make_engine(db_url)
    settings = Settings(db_url=db_url, mqtt_url=broker.url, topic_prefix=PREFIX, region="RU",
                        router_ack_timeout_s=CONFIRM_TIMEOUT_S)
    spool = WatchedSpool(engine, Topics(PREFIX), "RU")
    relay = OutboxRelay(spool, settings, "gw-test")
    spool.on_new_message = relay.notify_new
    r = Rig(broker, settings, spool, relay, make_sessions(engine), [])
    relay.start()
    try:
        assert relay.publisher.connected.wait(WAIT_S)
        yield r
    finally:
        for router in list(r.routers):
            router.stop()
        relay.stop()
        engine.dispose()
        broker.close()


def test_broker_restarted_without_persistence_loses_nothing(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        router = r.router()
        r.stop_router(router)  # its persistent session waits at the broker for what the gateway publishes now
        ids = r.calls(COUNT)
        collector = Collector(r.broker.url, f"{PREFIX}/v1/inbound/+")
        assert collector.wait_for(COUNT, WAIT_S), "the gateway did not publish"
        collector.close()
        r.broker.stop()  # the broker had acknowledged them all; without persistence it forgets them
        r.broker.start()
        r.router()
        r.wait_all_confirmed(ids)


def test_a_router_that_was_not_running_loses_nothing(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        ids = r.calls(COUNT)  # no router session exists: the broker drops what nobody subscribed to
        r.router()
        r.wait_all_confirmed(ids)


def test_a_stolen_router_session_loses_nothing_and_is_reported(tmp_path: Path) -> None:
    with rig(tmp_path) as r:
        router = r.router()
        stolen = threading.Event()
        thief = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=router.client_id,
                            protocol=paho.MQTTv5)
        thief.on_message = lambda *_a: stolen.set()  # it takes messages and acknowledges them
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        thief.connect("127.0.0.1", r.broker.port, clean_start=False, properties=props)
        thief.loop_start()
        ids = r.calls(COUNT)
        r.wait_all_confirmed(ids)
        thief.disconnect()
        thief.loop_stop()
        # Mosquitto 2.0.15 and later name the reason ("session taken over"); older ones just close the connection
        assert router.disconnects >= 1
        status = Collector(r.broker.url, f"{PREFIX}/v1/routers/r1/status")
        assert status.wait_until(lambda: any(json.loads(p).get("disconnects") for _t, p, _r in status.messages),
                                 WAIT_S)
        status.close()


def test_the_router_client_id_is_not_guessable() -> None:
    with_password = Settings(mqtt_url="mqtt://router:s3cret@127.0.0.1:1", topic_prefix=PREFIX)
    other_password = Settings(mqtt_url="mqtt://router:other@127.0.0.1:1", topic_prefix=PREFIX)
    a = Router(with_password, make_sessions(make_engine("sqlite://")), router_id="host1")
    b = Router(with_password, make_sessions(make_engine("sqlite://")), router_id="host1")
    c = Router(other_password, make_sessions(make_engine("sqlite://")), router_id="host1")
    assert a.client_id == b.client_id  # stable: the persistent session survives a restart
    assert a.client_id != c.client_id
    assert "host1" not in a.client_id
    assert PREFIX not in a.client_id.removeprefix("simhost-router-")


@settings(max_examples=25, deadline=None)
@given(payload=st.binary(max_size=200) | st.recursive(
    st.none() | st.integers() | st.text(max_size=10), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["ids", "router", "x"]), inner, max_size=3), max_leaves=10,
).map(lambda v: json.dumps(v).encode()))
def test_arbitrary_confirmations_never_stop_the_gateway(confirm_rig: Rig, payload: bytes) -> None:
    publisher = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    publisher.connect("127.0.0.1", confirm_rig.broker.port)
    publisher.loop_start()
    try:
        publisher.publish(f"{PREFIX}/v1/acks/port01", payload, qos=1).wait_for_publish(WAIT_S)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    confirm_rig.wait_all_confirmed(confirm_rig.calls(1))


@pytest.fixture(scope="module")
def confirm_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("confirm")) as r:
        r.router()
        yield r
