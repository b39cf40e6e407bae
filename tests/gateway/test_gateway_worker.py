"""Port worker lifecycle without a broker: dead after repeated failures, recovering once the modem appears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwsim import Bank
from simhost.db import make_engine, make_sessions, upgrade
from simhost.gateway.spool import Spool
from simhost.gateway.worker import PortConfig, PortState, PortWorker
from simhost.topics import Topics
from simhost_drivers.modems import open_driver

WAIT_S = 30.0


def make_worker(tmp_path: Path, url: str, **options: Any) -> tuple[PortWorker, Spool]:
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    spool = Spool(make_sessions(make_engine(db)), Topics("t"), "RU")

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
