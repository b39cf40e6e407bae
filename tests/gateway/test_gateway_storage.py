"""Every message memory a modem offers is drained: what another program (or the factory default) left in ME or
SM, status reports in SR, a +CMTI naming another memory than the read one; MT is never read beside SM and ME."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hwsim import Bank, VirtualModem
from simhost.db import make_engine, upgrade
from simhost.gateway.spool import REPORTS, Spool
from simhost.gateway.worker import PortConfig, PortWorker
from simhost.topics import Topics
from simhost_drivers.modems import open_driver

WAIT_S = 30.0
PROFILES = ["generic", "sim800", "ec25", "e173"]


class Inbox:
    """The texts the spool queued, collected as they are committed; waits on a condition."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.texts: list[str] = []
        self._cond = threading.Condition()
        spool.on_new_message = self._arrived

    def _arrived(self, rows: list[Any]) -> None:
        with self._cond:
            self.texts += [json.loads(r.payload)["text"] for r in rows]
            self._cond.notify_all()

    def wait_for(self, count: int, timeout_s: float = WAIT_S) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.texts) >= count, timeout_s)


@contextmanager
def worker_on(tmp_path: Path, profile: str, preload: list[str],
              **options: Any) -> Iterator[tuple[VirtualModem, PortWorker, Spool, list[Any]]]:
    """A one-port bank of `profile` started with `preload`, and a worker on it; the drivers it opened."""
    bank = Bank(tmp_path / "bank", ports=1, profiles=(profile,), seed=5, preload=preload)
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    spool = Spool(make_engine(db), Topics("t"), "RU")
    drivers: list[Any] = []

    def factory(p: PortConfig) -> Any:
        driver = open_driver(p.url, port_name=p.name)
        drivers.append(driver)
        return driver

    bank.start()
    worker = PortWorker(PortConfig(name="port01", url=bank.ports[0].path), spool, factory, **options)
    try:
        yield bank.ports[0], worker, spool, drivers
    finally:
        worker.stop()
        worker.join()
        bank.stop()


def _expected(modem: VirtualModem) -> list[str]:
    return sorted(f"preloaded {n} of {count} in {mem} of {modem.name}"
                  for mem, count in (("ME", 3), ("SM", 2)) for n in range(1, count + 1))


def _reports(spool: Spool) -> int:
    with spool.engine.connect() as c:
        return int(c.scalar(select(func.count()).select_from(REPORTS)) or 0)


@pytest.mark.parametrize("profile", PROFILES)
def test_preloaded_me_and_sm_are_drained_once_each(tmp_path: Path, profile: str) -> None:
    preload = ["port01:ME:3", "port01:SM:2"] + (["port01:SR:1"] if profile == "e173" else [])
    with worker_on(tmp_path, profile, preload) as (modem, worker, spool, _drivers):
        inbox = Inbox(spool)
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        assert inbox.wait_for(5), inbox.texts
        assert modem.wait_until(lambda m: not m.state()["storage"], WAIT_S), modem.state()["storage"]
        assert sorted(inbox.texts) == _expected(modem)
        assert sorted(json.loads(r.payload)["text"] for r in spool.pending(100, set())) == _expected(modem)
        assert worker.status.received == 5
        if profile == "e173":
            assert _reports(spool) == 1
        # the read memory is the chosen one again
        assert modem.state()["settings"]["cpms"][0] == worker.status.to_json()["storage_memory"]


def test_ec25_out_of_the_box_drains_me_and_receives(tmp_path: Path) -> None:
    with worker_on(tmp_path, "ec25", ["port01:ME:3", "port01:SM:2"]) as (modem, worker, spool, _drivers):
        assert modem.state()["settings"]["cpms"] == ["ME", "ME", "ME"]
        inbox = Inbox(spool)
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        assert inbox.wait_for(5), inbox.texts
        modem.sms("+79161234567", "new after the start")
        assert inbox.wait_for(6), inbox.texts
        assert sorted(inbox.texts) == sorted([*_expected(modem), "new after the start"])
        assert modem.wait_until(lambda m: not m.state()["storage"], WAIT_S), modem.state()["storage"]


def test_mt_beside_sm_and_me_is_not_read(tmp_path: Path) -> None:
    with worker_on(tmp_path, "ec25", ["port01:ME:3", "port01:SM:2"]) as (modem, worker, spool, _drivers):
        inbox = Inbox(spool)
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        assert inbox.wait_for(5), inbox.texts
        sent = [e["data"].strip() for e in modem.state()["at_log"] if e["dir"] == "rx"]
        assert not any('"MT"' in line for line in sent), sent
        assert Counter(inbox.texts) == Counter(_expected(modem))
        assert worker.status.received == 5


def test_cmti_naming_me_is_read_from_me(tmp_path: Path) -> None:
    with worker_on(tmp_path, "sim800", []) as (modem, worker, spool, drivers):
        inbox = Inbox(spool)
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        # another message waits in SM index 1, unannounced; new ones now go to ME while SM stays the read memory
        modem.store("SM", "+79160000000", "waiting in SM")
        drivers[-1].channel.command('AT+CPMS="SM","SM","ME"', expect=("+CPMS:",))
        modem.sms("+79161234567", "announced in ME")
        assert inbox.wait_for(1), inbox.texts
        assert inbox.texts == ["announced in ME"]
        left = [(s["mem"], s["index"]) for s in modem.state()["storage"]]
        assert modem.wait_until(lambda m: [(s["mem"], s["index"]) for s in m.state()["storage"]] == [("SM", 1)],
                                WAIT_S), left
        # the receive storage is selected again right after the delete
        assert modem.wait_until(lambda m: m.state()["settings"]["cpms"][0] == "SM", WAIT_S)


def test_port_status_counts_each_storage(tmp_path: Path) -> None:
    statuses: list[dict[str, Any]] = []
    with worker_on(tmp_path, "ec25", ["port01:ME:2"],
                   on_status=lambda s: statuses.append(s.to_json())) as (_modem, worker, spool, _drivers):
        inbox = Inbox(spool)
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        assert inbox.wait_for(2), inbox.texts
        status = worker.status.to_json()
        assert status["storages"] == {"SM": {"used": 0, "total": 20}, "ME": {"used": 0, "total": 255},
                                      "SR": {"used": 0, "total": 50}}
        assert status["storage"] == {"used": 0, "total": 20}
        assert status["storage_memory"] == "SM"
        assert statuses[-1]["storages"] == status["storages"]
