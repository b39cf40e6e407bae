"""Ports added or removed while `simhost run` runs: the gateway starts again with them, in one process or
several, and a removed port's status goes offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwsim import Bank
from tests.brokerlib import PrivateBroker
from tests.gateway.gwlib import GatewayProcess
from tests.mqttlib import Collector

WAIT_S = 60.0


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    b = Bank(tmp_path / "bank", ports=3, profiles=("generic", "sim800", "ec25"), seed=9)
    b.start()
    yield b
    b.stop()


def _texts(inbound: Collector) -> set[str]:
    return {p["text"] for p in inbound.json_payloads()}


def _state(statuses: Collector, port: str) -> str | None:
    states = [json.loads(p)["state"] for t, p, _r in list(statuses.messages) if p and t.split("/")[-2] == port]
    return states[-1] if states else None


@pytest.mark.parametrize("processes", ["1", "2"])
def test_added_port_is_driven_and_removed_port_goes_offline(
    tmp_path: Path, broker: PrivateBroker, bank: Bank, processes: str,
) -> None:
    gw = GatewayProcess(tmp_path, broker.url)
    first, second, third = bank.ports
    gw.add_port(first.name, first.path)
    gw.add_port(second.name, second.path)
    inbound = Collector(broker.url, f"{gw.prefix}/v1/inbound/+")
    statuses = Collector(broker.url, f"{gw.prefix}/v1/ports/+/status")
    try:
        gw.start("--gateway-processes", processes, "--port-rescan", "0.2")
        first.sms("+79161234567", "before")
        assert inbound.wait_until(lambda: "before" in _texts(inbound), WAIT_S), gw.log()

        third.sms("+79161234567", "waiting on a port nobody drives yet")
        gw.add_port(third.name, third.path)
        assert inbound.wait_until(lambda: "waiting on a port nobody drives yet" in _texts(inbound), WAIT_S), gw.log()
        assert f"ports added {third.name}" in gw.log()

        out = gw.cli("port", "remove", first.name)
        assert out.returncode == 0, out.stderr
        assert statuses.wait_until(lambda: _state(statuses, first.name) == "offline", WAIT_S), gw.log()
        assert f"ports removed {first.name}" in gw.log()
        second.sms("+79161234567", "after")
        assert inbound.wait_until(lambda: "after" in _texts(inbound), WAIT_S), gw.log()
        assert _state(statuses, first.name) == "offline"
    finally:
        gw.stop()
        inbound.close()
        statuses.close()
