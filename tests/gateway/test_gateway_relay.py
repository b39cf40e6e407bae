"""The outbox relay against a real Mosquitto: rows the spool commits are published from memory, an overflow
of the in-memory queue falls back to the outbox table, a row reached both ways is published once, and rows
are marked published when the broker acknowledged them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwsim.sms import encode_deliver
from simhost.config import Settings
from simhost.db import make_engine, upgrade
from simhost.gateway import service
from simhost.gateway.service import OutboxRelay
from simhost.gateway.spool import PortIdentity
from simhost.topics import Topics
from tests.brokerlib import PrivateBroker
from tests.gateway.gwlib import WatchedSpool
from tests.mqttlib import Collector

WHO = PortIdentity("port01", "89701010000000000005", "+79001234567")
WAIT_S = 20.0
NO_MORE_S = 1.0


@pytest.fixture
def rig(tmp_path: Path, broker: PrivateBroker) -> Iterator[tuple[WatchedSpool, OutboxRelay, Collector]]:
    prefix = f"r{uuid.uuid4().hex[:6]}"
    url = f"sqlite:///{tmp_path}/relay.db"
    upgrade(url)
    spool = WatchedSpool(make_engine(url), Topics(prefix), "RU")
    relay = OutboxRelay(spool, Settings(db_url=url, mqtt_url=broker.url, topic_prefix=prefix, router_ack_timeout_s=0),
                        prefix)
    spool.on_new_message = relay.notify_new
    inbound = Collector(broker.url, f"{prefix}/v1/inbound/+")
    relay.start()
    try:
        yield spool, relay, inbound
    finally:
        relay.stop()
        inbound.close()


def _texts(inbound: Collector, count: int) -> list[str]:
    return sorted(json.loads(p)["text"] for _t, p, _r in inbound.wait_for(count, WAIT_S))


def _pdus(count: int, tag: str) -> list[str]:
    return [encode_deliver("+79161234567", f"{tag} {i}")[0] for i in range(count)]


def test_committed_rows_are_published_once_and_marked(rig: tuple[WatchedSpool, OutboxRelay, Collector]) -> None:
    spool, relay, inbound = rig
    spool.store_pdus(WHO, _pdus(50, "fresh"))
    assert _texts(inbound, 50) == sorted(f"fresh {i}" for i in range(50))
    assert spool.wait_marked(50, WAIT_S)
    relay.rescan()  # a table read finds nothing left to publish
    assert len(inbound.wait_for(51, NO_MORE_S)) == 50
    assert spool.pending(100, set()) == []


def test_overflow_of_the_memory_queue_falls_back_to_the_table(
    rig: tuple[WatchedSpool, OutboxRelay, Collector], monkeypatch: pytest.MonkeyPatch,
) -> None:
    spool, _relay, inbound = rig
    monkeypatch.setattr(service, "FRESH_CAP", 5)
    spool.store_pdus(WHO, _pdus(40, "overflow"))  # 40 rows at once: more than the queue holds
    assert _texts(inbound, 40) == sorted(f"overflow {i}" for i in range(40))
    assert spool.wait_marked(40, WAIT_S)
    assert len(inbound.wait_for(41, NO_MORE_S)) == 40


def test_a_row_announced_after_a_table_read_published_it_is_not_sent_again(
    rig: tuple[WatchedSpool, OutboxRelay, Collector],
) -> None:
    spool, relay, inbound = rig
    spool.on_new_message = None  # committed but not announced: only a table read finds them
    spool.store_pdus(WHO, _pdus(3, "late"))
    relay.rescan()
    assert _texts(inbound, 3) == ["late 0", "late 1", "late 2"]
    assert spool.wait_marked(3, WAIT_S)
    relay.notify_new(spool.all_rows())  # the announcement arriving after all that
    assert len(inbound.wait_for(4, NO_MORE_S)) == 3
