"""Nothing lost, nothing doubled: SIGKILL of the gateway mid-burst, and the broker gone for 30 s."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwsim import Bank
from tests.brokerlib import PrivateBroker
from tests.gateway.gwlib import GatewayProcess
from tests.mqttlib import Collector

PORTS = 8
PER_PORT = 25
BURST_WAIT_S = 120.0
OUTAGE_S = 30.0


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    b = Bank(tmp_path / "bank", ports=PORTS, profiles=("generic", "sim800", "ec25", "e173"), seed=11)
    b.start()
    yield b
    b.stop()


def burst(bank: Bank, label: str) -> list[str]:
    texts = []
    for i in range(PER_PORT):
        for m in bank.ports:
            text = f"{label} {m.name} #{i}"
            m.sms(f"+7916{i:07d}", text)
            texts.append(text)
    return texts


def check_exactly_once(inbound: Collector, expected: list[str]) -> None:
    def complete() -> bool:
        texts = {p["text"] for p in inbound.json_payloads() if p["kind"] == "sms"}
        return texts >= set(expected)

    assert inbound.wait_until(complete, BURST_WAIT_S), (
        f"missing: {sorted(set(expected) - {p['text'] for p in inbound.json_payloads()})[:10]}")
    payloads = [p for p in inbound.json_payloads() if p["kind"] == "sms"]
    ids_per_text: dict[str, set[str]] = {}
    for p in payloads:
        ids_per_text.setdefault(p["text"], set()).add(p["id"])
    doubled = {t: ids for t, ids in ids_per_text.items() if len(ids) > 1}
    assert not doubled, f"messages published under two ids: {doubled}"
    assert set(ids_per_text) == set(expected)


def start_gateway(tmp_path: Path, broker_url: str, bank: Bank) -> GatewayProcess:
    gw = GatewayProcess(tmp_path, broker_url)
    for m in bank.ports:
        gw.add_port(m.name, m.path)
    return gw


def test_sigkill_mid_burst_loses_and_doubles_nothing(tmp_path: Path, broker: PrivateBroker, bank: Bank) -> None:
    gw = start_gateway(tmp_path, broker.url, bank)
    inbound = Collector(broker.url, f"{gw.prefix}/v1/inbound/+")
    try:
        gw.start()
        texts = burst(bank, "burst")
        assert inbound.wait_until(lambda: len(inbound.messages) >= len(texts) // 4, BURST_WAIT_S)
        gw.kill()
        gw.start()
        check_exactly_once(inbound, texts)
        for m in bank.ports:
            assert m.wait_until(lambda mm: not mm.state()["storage"], 30), f"{m.name}: SIM not drained"
        published = Counter(p["id"] for p in inbound.json_payloads())
        print(f"{len(texts)} messages, {len(published)} ids, "
              f"{sum(published.values()) - len(published)} redeliveries of an id after the kill")
    finally:
        gw.stop()
        inbound.close()


def test_broker_down_30s_during_burst(tmp_path: Path, bank: Bank) -> None:
    broker = PrivateBroker(persistent=True)
    broker.start()
    gw = start_gateway(tmp_path, broker.url, bank)
    inbound = Collector(broker.url, f"{gw.prefix}/v1/inbound/+", session=f"{gw.prefix}-watcher")
    try:
        gw.start()
        before = burst(bank, "before")
        assert inbound.wait_until(lambda: len(inbound.messages) >= 10, BURST_WAIT_S)
        broker.stop()
        outage_started = time.monotonic()
        during = burst(bank, "during")
        for m in bank.ports:
            assert m.wait_until(lambda mm: not mm.state()["storage"], 60), f"{m.name}: SIM not drained"
        # The outage lasting 30 s is the scenario itself, not a wait for some state.
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
        broker.start()
        check_exactly_once(inbound, before + during)
    finally:
        gw.stop()
        inbound.close()
        broker.close()
