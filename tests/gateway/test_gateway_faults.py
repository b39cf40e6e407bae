"""Every profile × every fault: each SMS delivered by the virtual bank is published once, calls are hung up,
and the port worker recovers by itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank, VirtualModem
from simhost.config import Settings
from simhost.db import make_engine, upgrade
from simhost.gateway.service import Gateway
from simhost.gateway.worker import PortConfig, PortState
from simhost_drivers.modems import open_driver
from tests.brokerlib import PrivateBroker
from tests.mqttlib import Collector

PROFILES = ("generic", "sim800", "ec25", "e173")
WAIT_S = 30.0
WORKER_OPTIONS = {"sweep_interval_s": 3.0, "health_interval_s": 1.0, "watchdog_idle_s": 1.0, "backoff_max_s": 1.0}


@dataclass
class Rig:
    bank: Bank
    gateway: Gateway
    inbound: Collector
    modems: list[VirtualModem]

    def texts(self) -> list[str]:
        return [p["text"] for p in self.inbound.json_payloads() if p["kind"] == "sms"]

    def wait_texts(self, expected: list[str]) -> list[str]:
        def have_all() -> bool:
            got = self.texts()
            return all(t in got for t in expected)

        self.inbound.wait_until(have_all, WAIT_S)
        return self.texts()

    def wait_ready(self) -> None:
        for w in self.gateway.workers:
            assert w.ready.wait(WAIT_S), f"{w.config.name}: not ready: {w.status.to_json()}"


@pytest.fixture
def rig(tmp_path: Path, broker: PrivateBroker) -> Iterator[Rig]:
    prefix = f"f{uuid.uuid4().hex[:8]}"
    db_url = f"sqlite:///{tmp_path}/gw.db"
    upgrade(db_url)
    engine = make_engine(db_url)
    settings = Settings(db_url=db_url, mqtt_url=broker.url, topic_prefix=prefix, router_ack_timeout_s=0)
    bank = Bank(tmp_path / "bank", ports=len(PROFILES), profiles=PROFILES, slots=2, seed=7)
    bank.start()
    inbound = Collector(broker.url, f"{prefix}/v1/inbound/+")
    ports = [PortConfig(name=m.name, url=m.path) for m in bank.ports]

    def factory(p: PortConfig) -> Any:
        return open_driver(p.url, port_name=p.name)

    gateway = Gateway(settings, engine, ports, factory, gateway_id=prefix, worker_options=WORKER_OPTIONS)
    gateway.start()
    rig = Rig(bank, gateway, inbound, bank.ports)
    try:
        rig.wait_ready()
        yield rig
    finally:
        gateway.stop()
        inbound.close()
        bank.stop()
        engine.dispose()


def deliver_round(rig: Rig, label: str) -> list[str]:
    texts = []
    for m in rig.modems:
        text = f"{label} via {m.profile} Привет"
        m.sms("+79161234567", text)
        texts.append(text)
    return texts


def assert_once_and_drained(rig: Rig, expected: list[str]) -> None:
    got = rig.wait_texts(expected)
    for t in expected:
        assert got.count(t) == 1, f"{t!r} published {got.count(t)} times"
    ids = [p["id"] for p in rig.inbound.json_payloads()]
    assert len(ids) == len(set(ids)), "a message id was published twice"
    for m in rig.modems:
        assert m.wait_until(lambda mm: not mm.state()["storage"], WAIT_S), f"{m.name}: SIM not drained"


def call_round(rig: Rig) -> None:
    for m in rig.modems:
        m.call("+79035550001", rings=5)
    for m in rig.modems:
        assert m.wait_until(lambda mm: bool(mm.calls()) and mm.calls()[-1]["hung_up_at"] is not None,
                            WAIT_S), f"{m.name}: call not hung up"


FAULTS: list[tuple[str, tuple[str, ...], bool]] = [
    # (kind, args, needs an explicit `clear`/`replug` to end)
    ("garbage", (), False),
    ("urc-in-response", (), False),
    ("cms-error", ("500",), False),
    ("storage-full", (), False),
    ("reboot", (), False),
    ("hang", (), True),
    ("unplug", (), True),
]


@pytest.mark.parametrize(("kind", "args", "sticky"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_every_profile(rig: Rig, kind: str, args: tuple[str, ...], sticky: bool) -> None:
    before = deliver_round(rig, f"before {kind}")
    assert_once_and_drained(rig, before)
    degraded = [w.entries(PortState.DEGRADED) for w in rig.gateway.workers]
    for m in rig.modems:
        m.fault(kind, *args)
    during = deliver_round(rig, f"during {kind}")
    if sticky:
        for w, n in zip(rig.gateway.workers, degraded, strict=True):
            assert w.wait_entered(PortState.DEGRADED, n, WAIT_S), f"{w.config.name} never noticed {kind}"
        for m in rig.modems:
            m.fault("replug" if kind == "unplug" else "clear")
    rig.wait_ready()
    after = deliver_round(rig, f"after {kind}")
    assert_once_and_drained(rig, before + during + after)
    call_round(rig)
    assert rig.inbound.wait_until(lambda: len([p for p in rig.inbound.json_payloads() if p["kind"] == "call"])
                                  >= len(rig.modems), WAIT_S)
    calls = [p for p in rig.inbound.json_payloads() if p["kind"] == "call"]
    assert sorted(c["port"] for c in calls) == sorted(m.name for m in rig.modems)
    assert all(c["text"] == "[CALL]" and c["sender"] == "+79035550001" for c in calls)


def test_slot_switch_is_detected_and_both_sims_read(rig: Rig) -> None:
    m = rig.modems[0]
    worker = rig.gateway.workers[0]
    first_iccid = worker.status.iccid
    m.sms("+79161234567", "on slot 1")
    rig.wait_texts(["on slot 1"])
    m.slot(2)
    m.sms("+79161234567", "on slot 2")
    got = rig.wait_texts(["on slot 2"])
    assert got.count("on slot 2") == 1
    by_text = {p["text"]: p for p in rig.inbound.json_payloads() if p["kind"] == "sms"}
    assert by_text["on slot 2"]["iccid"] != first_iccid
    assert by_text["on slot 1"]["iccid"] == first_iccid
