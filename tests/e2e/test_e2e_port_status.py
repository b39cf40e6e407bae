"""Port status: retained and live while the gateway runs; `offline` for every port when the gateway dies."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank
from tests.brokerlib import PrivateBroker
from tests.e2e.test_e2e_routing import stop
from tests.gateway.gwlib import GatewayProcess
from tests.mqttlib import Collector

WAIT_S = 60.0


def latest(collector: Collector) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for topic, payload, _retained in list(collector.messages):
        if payload:
            out[topic.split("/")[-2]] = json.loads(payload)
    return out


@pytest.mark.parametrize("processes", ["1", "2"])
def test_gateway_killed_marks_each_port_offline(tmp_path: Path, broker: PrivateBroker, processes: str) -> None:
    """With two processes the SIGKILLed one supervises them: they die with it, and each one's will names
    its own ports."""
    bank = Bank(tmp_path / "bank", ports=3, profiles=("generic", "sim800", "e173"), seed=5)
    bank.start()
    proc = GatewayProcess(tmp_path, broker.url)
    statuses = Collector(broker.url, f"{proc.prefix}/v1/ports/+/status")
    services = []
    try:
        for m in bank.ports:
            proc.add_port(m.name, m.path)
        names = {m.name for m in bank.ports}
        services.append(proc.spawn("router"))
        gateway = proc.spawn("gateway", "--gateway-processes", processes)
        services.append(gateway)

        def all_in(state: str) -> bool:
            return all_in_for(statuses, names, state)

        assert statuses.wait_until(lambda: all_in("ready"), WAIT_S), latest(statuses)
        ready = latest(statuses)
        slots = {p["name"]: p["slots"][0] for p in bank.info["ports"]}
        for name in names:
            assert ready[name]["iccid"] == slots[name]["iccid"]
            assert ready[name]["msisdn"] == slots[name]["msisdn"]
        gateway.send_signal(signal.SIGKILL)
        gateway.wait()
        assert statuses.wait_until(lambda: all_in("offline"), WAIT_S), latest(statuses)
        # retained: a subscriber arriving now sees them offline too
        late = Collector(broker.url, f"{proc.prefix}/v1/ports/+/status")
        try:
            assert late.wait_until(lambda: all_in_for(late, names, "offline"), WAIT_S), latest(late)
        finally:
            late.close()
    finally:
        for p in services:
            if p.poll() is None:
                stop(p)
        statuses.close()
        bank.stop()


def all_in_for(collector: Collector, names: set[str], state: str) -> bool:
    now = latest(collector)
    return set(now) >= names and all(now[n]["state"] == state for n in names)
