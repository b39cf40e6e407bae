"""A one-port virtual bank with a worker that sends, a registry with a customer owning the port's number, and the
send queue seen from the database, for sending tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from hwsim import Bank, Timing, VirtualModem
from simhost.db import make_engine
from simhost.gateway.spool import OutboxRow, Spool
from simhost.gateway.worker import PortConfig, PortWorker
from simhost.sending.models import FINAL, Send, SendPart
from simhost.sending.queue import SendQueue
from simhost.sending.requests import SendRequest, accept
from simhost.topics import Topics
from simhost_drivers.modems import ModemDriver, open_driver
from tests.router.routerlib import cli

WAIT_S = 30.0
PROFILES = ("generic", "sim800", "ec25", "e173")
RECIPIENT = "+79161234567"
PREFIX = "t"
REPORT_DELAY_S = 0.2


@dataclass
class SendRig:
    modem: VirtualModem
    worker: PortWorker
    engine: Engine
    queue: SendQueue
    number: str
    outcomes: list[OutboxRow]
    cond: threading.Condition

    def request(self, text: str, *, from_: str | None = None, to: str = RECIPIENT, client_id: str | None = None,
                report: bool = True, owner: str = "acme") -> Send:
        with sessionmaker(self.engine, expire_on_commit=False).begin() as s:
            row, _created = accept(s, SendRequest(owner, from_ or self.number, to, text, report, client_id),
                                   region="RU", source="cli", topics=Topics(PREFIX))
        self.worker.notify_send_due()
        return row

    def send_row(self, send_id: str) -> Send:
        with sessionmaker(self.engine)() as s:
            row = s.get(Send, send_id)
            assert row is not None
            return row

    def parts(self, send_id: str) -> list[SendPart]:
        with sessionmaker(self.engine)() as s:
            return list(s.scalars(select(SendPart).where(SendPart.send_id == send_id).order_by(SendPart.seq)))

    def wait_state(self, send_id: str, *states: str, timeout_s: float = WAIT_S) -> Send:
        """Until the send reaches one of `states` (its outcome is what the worker hands to the relay)."""
        with self.cond:
            self.cond.wait_for(lambda: self.send_row(send_id).state in states, timeout_s)
        row = self.send_row(send_id)
        assert row.state in states, (row.state, row.reason_code, row.reason, self.worker.status.to_json())
        return row

    def on_air(self) -> list[dict[str, Any]]:
        return list(self.modem.state()["sent"])


@contextmanager
def send_rig(tmp_path: Path, profile: str, *, cnmi: str | None = None, slot_kind: str = "virtual",
             **worker_options: Any) -> Iterator[SendRig]:
    """`cnmi`: the AT+CNMI parameters the driver sets instead of its family's first choice; `slot_kind`: the port's
    SIM is acme's virtual number, or a shared one."""
    bank = Bank(tmp_path / "bank", ports=1, profiles=(profile,), seed=5, timing=Timing(report_delay_s=REPORT_DELAY_S))
    bank.start()
    modem = bank.ports[0]
    slot = bank.info["ports"][0]["slots"][0]
    db = f"sqlite:///{tmp_path / 'simhost.db'}"
    cli(db, "db", "upgrade")
    cli(db, "port", "add", "port01", "--url", modem.path)
    cli(db, "owner", "add", "acme", "--verified")
    cli(db, "owner", "add", "beta", "--verified")
    owner = ("--owner", "acme") if slot_kind != "shared" else ()
    cli(db, "slot", "add", "--bank", "1", "--slot", "1", "--iccid", slot["iccid"], "--msisdn", slot["msisdn"],
        "--kind", slot_kind, *owner, "--port", "port01")
    engine = make_engine(db)
    cond = threading.Condition()
    outcomes: list[OutboxRow] = []

    def announced(rows: list[OutboxRow]) -> None:
        with cond:
            outcomes.extend(rows)
            cond.notify_all()

    queue = SendQueue(engine, Topics(PREFIX), "RU", on_outcome=announced)
    spool = Spool(engine, Topics(PREFIX), "RU")
    options = {"send_gap_s": 0.2, "send_retry_s": 0.2, **worker_options}

    def factory(p: PortConfig) -> ModemDriver:
        driver = open_driver(p.url, port_name=p.name)
        if cnmi is not None:
            driver.quirks = replace(driver.quirks, cnmi_variants=(cnmi,))
        return driver

    worker = PortWorker(PortConfig(name="port01", url=modem.path), spool, factory, sends=queue, **options)
    try:
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        yield SendRig(modem, worker, engine, queue, slot["msisdn"], outcomes, cond)
    finally:
        worker.stop()
        worker.join()
        engine.dispose()
        bank.stop()


FINAL_STATES = tuple(FINAL)
