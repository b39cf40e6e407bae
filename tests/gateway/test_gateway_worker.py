"""Port worker lifecycle without a broker: dead after repeated failures, recovering once the modem appears."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from hwsim import Bank, VirtualModem
from simhost.db import make_engine, upgrade
from simhost.gateway.spool import Spool
from simhost.gateway.worker import PortConfig, PortState, PortWorker
from simhost.topics import Topics
from simhost_drivers.modems import open_driver

WAIT_S = 30.0


def make_worker(tmp_path: Path, url: str, **options: Any) -> tuple[PortWorker, Spool]:
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    spool = Spool(make_engine(db), Topics("t"), "RU")

    def factory(p: PortConfig) -> Any:
        return open_driver(p.url, port_name=p.name)

    return PortWorker(PortConfig(name="port01", url=url), spool, factory, **options), spool


def test_missing_modem_goes_dead_then_recovers_when_plugged(tmp_path: Path) -> None:
    bank_dir = tmp_path / "bank"
    worker, _spool = make_worker(tmp_path, str(bank_dir / "port01"), backoff_max_s=0.05, dead_after_failures=3)
    worker.start()
    bank = None
    try:
        assert worker.wait_entered(PortState.DEAD, 0, WAIT_S), worker.status.to_json()
        assert worker.status.last_error
        assert "port01" in worker.status.last_error
        bank = Bank(bank_dir, ports=1, profiles=("sim800",), seed=2)
        bank.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        assert worker.status.state == PortState.READY
        assert worker.status.iccid == bank.info["ports"][0]["slots"][0]["iccid"]
    finally:
        worker.stop()
        worker.join()
        if bank is not None:
            bank.stop()


def test_direct_delivery_with_cnma(tmp_path: Path) -> None:
    """A modem set up for +CMT (AT+CNMI=2,2 with AT+CSMS=1): each message is stored, then acknowledged."""
    bank = Bank(tmp_path / "bank", ports=1, profiles=("generic",), seed=6)
    bank.start()
    modem = bank.ports[0]

    def direct(p: PortConfig) -> Any:
        driver = open_driver(p.url, port_name=p.name)
        driver.quirks = replace(driver.quirks, cnmi_variants=("2,2,0,1,0",), init_extras=("AT+CSMS=1",))
        return driver

    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    spool = Spool(make_engine(db), Topics("t"), "RU")
    stored = threading.Event()
    spool.on_new_message = lambda _rows: stored.set()
    worker = PortWorker(PortConfig(name="port01", url=modem.path), spool, direct)
    try:
        worker.start()
        assert worker.ready.wait(WAIT_S)
        modem.sms("+79161234567", "delivered directly")
        assert stored.wait(WAIT_S)
        rows = spool.pending(10, set())
        assert [json.loads(r.payload)["text"] for r in rows] == ["delivered directly"]
        # acknowledged: nothing stored on the SIM, nothing waiting for a resend
        assert modem.wait_until(lambda m: any("AT+CNMA" in str(e) for e in m.state()["at_log"]), WAIT_S)
        assert modem.state()["storage"] == []
    finally:
        worker.stop()
        worker.join()
        bank.stop()


@contextmanager
def worker_on_bank(tmp_path: Path, profile: str, seed: int,
                   **options: Any) -> Iterator[tuple[VirtualModem, PortWorker, Spool]]:
    """A one-port bank of `profile` and a started worker on it; both stopped at the end."""
    bank = Bank(tmp_path / "bank", ports=1, profiles=(profile,), seed=seed)
    bank.start()
    worker, spool = make_worker(tmp_path, bank.ports[0].path, **options)
    try:
        worker.start()
        yield bank.ports[0], worker, spool
    finally:
        worker.stop()
        worker.join()
        bank.stop()


def _resets(modem: VirtualModem) -> int:
    return sum(1 for e in modem.state()["at_log"] if e["data"] == "AT+CFUN=1,1")


def test_modem_stuck_searching_is_restarted_and_its_messages_arrive(tmp_path: Path) -> None:
    with worker_on_bank(tmp_path, "ec25", 4, backoff_max_s=0.2, sweep_interval_s=0.3, health_interval_s=0.1,
                        reset_unregistered_after_s=1.0, reset_interval_s=3600.0) as (modem, worker, spool):
        stored = threading.Event()
        spool.on_new_message = lambda _rows: stored.set()
        assert worker.ready.wait(WAIT_S)
        modem.fault("no-network")  # searching, and it stays so until the radio restarts
        modem.sms("+79161234567", "held by the network while the modem searched")
        assert modem.wait_until(lambda m: _resets(m) == 1, WAIT_S), worker.status.to_json()
        assert stored.wait(WAIT_S), worker.status.to_json()
        assert [json.loads(r.payload)["text"] for r in spool.pending(10, set())] == [
            "held by the network while the modem searched"]
        assert worker.ready.wait(WAIT_S)
        assert worker.status.registration == "home"
        # once per interval: stuck again right after, it is not restarted again
        modem.fault("no-network")
        assert not worker.wait_entered(PortState.DEGRADED, worker.entries(PortState.DEGRADED), 2.0)
        assert _resets(modem) == 1


def test_a_failure_after_a_stable_session_counts_as_the_first(tmp_path: Path) -> None:
    # three restarts of a plain modem that announces none (its forgotten settings give it away at the next
    # health check, which comes after the 1 s restart), each after the port had been ready: never dead
    with worker_on_bank(tmp_path, "generic", 6, backoff_max_s=0.05, dead_after_failures=2, stable_session_s=0.0,
                        sweep_interval_s=2.0, health_interval_s=0.4, watchdog_idle_s=5.0) as (modem, worker, _spool):
        for _ in range(3):
            assert worker.ready.wait(WAIT_S)
            readies = worker.entries(PortState.READY)
            modem.fault("reboot")
            assert worker.wait_entered(PortState.READY, readies, WAIT_S), worker.status.to_json()
        assert worker.entries(PortState.DEAD) == 0
