"""A bank split over several gateway processes: how the ports are dealt out, each process publishing only its
own ports' rows, nothing lost or doubled when the supervising process is SIGKILLed mid-burst (its processes
die with it), and a dead process started again."""

from __future__ import annotations

import json
import os
import select
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwsim import Bank
from hwsim.sms import encode_deliver
from simhost.db import make_engine, upgrade
from simhost.gateway.shards import auto_processes, plan_shards
from simhost.gateway.spool import PortIdentity, PortScope, Spool
from simhost.gateway.worker import PortConfig
from simhost.topics import Topics
from tests.brokerlib import PrivateBroker
from tests.gateway.test_gateway_durability import BURST_WAIT_S, burst, check_exactly_once, start_gateway
from tests.mqttlib import Collector

EXIT_WAIT_S = 10.0


def _ports(n: int) -> list[PortConfig]:
    return [PortConfig(f"p{i:02d}", f"/dev/x{i}") for i in range(n)]


def test_ports_are_dealt_round_robin_and_every_row_has_an_owner() -> None:
    shards = plan_shards(_ports(5), 2)
    assert [[p.name for p in s.ports] for s in shards] == [["p00", "p02", "p04"], ["p01", "p03"]]
    assert [s.gateway_id("host") for s in shards] == ["host-1", "host-2"]
    first, second = (s.scope for s in shards)
    assert first == PortScope(frozenset({"p01", "p03"}), others=True)  # and ports no process drives
    assert second == PortScope(frozenset({"p01", "p03"}))
    one = plan_shards(_ports(3), 1)
    assert (len(one), one[0].scope, one[0].gateway_id("host")) == (1, None, "host")
    assert len(plan_shards(_ports(2), 8)) == 2  # never more processes than ports


@pytest.mark.parametrize(("ports", "cpus", "expected"), [(1, 8, 1), (32, 8, 1), (33, 8, 2), (256, 8, 8),
                                                          (256, 2, 2), (64, 1, 1)])
def test_auto_processes(ports: int, cpus: int, expected: int) -> None:
    assert auto_processes(ports, cpus) == expected


def test_scope_limits_what_a_process_publishes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    engine = make_engine(url)
    whole = Spool(engine, Topics("t"), "RU")
    for port in ("p00", "p01", "removed"):
        whole.store_pdu(PortIdentity(port, f"8970{port}", None), encode_deliver("+79161234567", port)[0])
    shards = plan_shards(_ports(2), 2)
    seen = [{json.loads(r.payload)["port"] for r in Spool(engine, Topics("t"), "RU", scope=s.scope).pending(10, set())}
            for s in shards]
    assert seen == [{"p00", "removed"}, {"p01"}]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """Wait (on a pidfd, no polling) until process `pid`, not a child of ours, has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout_s)[0])
    finally:
        os.close(fd)


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    b = Bank(tmp_path / "bank", ports=4, profiles=("generic", "sim800", "ec25", "e173"), seed=5)
    b.start()
    yield b
    b.stop()


def test_sigkill_of_the_supervisor_mid_burst_takes_its_processes_and_loses_nothing(
    tmp_path: Path, broker: PrivateBroker, bank: Bank,
) -> None:
    gw = start_gateway(tmp_path, broker.url, bank)
    inbound = Collector(broker.url, f"{gw.prefix}/v1/inbound/+")
    statuses = Collector(broker.url, f"{gw.prefix}/v1/gateways/+/status")
    try:
        gw.start("--gateway-processes", "2")
        assert statuses.wait_until(lambda: len({t for t, _p, _r in statuses.messages}) >= 2, BURST_WAIT_S)
        texts = burst(bank, "sharded")
        assert inbound.wait_until(lambda: len(inbound.messages) >= len(texts) // 4, BURST_WAIT_S)
        assert gw.proc is not None
        children = _children(gw.proc.pid)
        assert len(children) == 2
        gw.kill()
        for child in children:
            assert _wait_exit(child, EXIT_WAIT_S), f"gateway process {child} outlived its supervisor"
        gw.start("--gateway-processes", "2")
        check_exactly_once(inbound, texts)
        for m in bank.ports:
            assert m.wait_until(lambda mm: not mm.state()["storage"], 30), f"{m.name}: SIM not drained"
    finally:
        gw.stop()
        inbound.close()
        statuses.close()


def test_a_dead_gateway_process_is_started_again(tmp_path: Path, broker: PrivateBroker, bank: Bank) -> None:
    """... and stopped cleanly with the others (a process started again is not killed when the supervisor's
    thread that started it ends, which is when Linux sends the parent-death signal)."""
    gw = start_gateway(tmp_path, broker.url, bank)
    inbound = Collector(broker.url, f"{gw.prefix}/v1/inbound/+")
    gateways = Collector(broker.url, f"{gw.prefix}/v1/gateways/+/status")
    try:
        gw.start("--gateway-processes", "2")
        first = bank.ports[0]
        first.sms("+79161234567", "before")
        assert inbound.wait_until(lambda: any(p["text"] == "before" for p in inbound.json_payloads()),
                                  BURST_WAIT_S)
        assert gw.proc is not None
        for child in _children(gw.proc.pid):
            os.kill(child, signal.SIGKILL)
        first.sms("+79161234567", "after")
        bank.ports[1].sms("+79161234567", "after, other process")
        assert inbound.wait_until(lambda: {"after", "after, other process"} <= {p["text"] for p in
                                                                              inbound.json_payloads()},
                                  BURST_WAIT_S), gw.log()
        assert "starting it again" in gw.log()
        assert gw.stop() == 0

        def stopped_cleanly() -> bool:
            last = {t: json.loads(p) for t, p, _r in gateways.messages if p}
            return len(last) == 2 and all(v.get("reason") == "stopped" for v in last.values())

        assert gateways.wait_until(stopped_cleanly, BURST_WAIT_S), gateways.messages
    finally:
        gw.stop()
        inbound.close()
        gateways.close()
