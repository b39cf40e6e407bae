"""Balance checks by USSD in the port worker on a virtual bank: the balance in the port status, a timeout as
`balance_error` while messages keep arriving; and how checks pick a SIM's network and read an amount."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank, Timing, VirtualModem
from simhost.config import UssdCheck
from simhost.db import make_engine, upgrade
from simhost.gateway.spool import Spool
from simhost.gateway.ussd import balance_of
from simhost.gateway.worker import PortConfig, PortState, PortStatus, PortWorker
from simhost.topics import Topics
from simhost_drivers.modems import open_driver

WAIT_S = 30.0
CYRILLIC = "Баланс: 123,45 р."


class Statuses:
    """Every status the worker published, as JSON, to wait on."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, status: PortStatus) -> None:
        with self._cond:
            self.seen.append(status.to_json())
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        with self._cond:
            assert self._cond.wait_for(lambda: any(predicate(s) for s in self.seen), WAIT_S), self.seen[-3:]
            return next(s for s in self.seen if predicate(s))


@contextmanager
def checked_port(tmp_path: Path, profile: str, checks: tuple[UssdCheck, ...]
                 ) -> Iterator[tuple[VirtualModem, PortWorker, Spool, Statuses]]:
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    spool = Spool(make_engine(db), Topics("t"), "RU")
    statuses = Statuses()
    with Bank(tmp_path / "bank", ports=1, profiles=(profile,), seed=5, timing=Timing(ussd_reply_s=0.05)) as bank:
        modem = bank.ports[0]
        worker = PortWorker(PortConfig(name="port01", url=modem.path), spool,
                            lambda p: open_driver(p.url, port_name=p.name), on_status=statuses,
                            ussd_checks=checks)
        try:
            worker.start()
            yield modem, worker, spool, statuses
        finally:
            worker.stop()
            worker.join()


@pytest.mark.parametrize("profile", ["e173", "sim800"])
def test_a_scheduled_check_puts_the_balance_in_the_port_status(tmp_path: Path, profile: str) -> None:
    checks = (UssdCheck("Beeline", "*102#", 1.0), UssdCheck("mts rus", "*100#", 1.0))
    with checked_port(tmp_path, profile, checks) as (modem, _worker, _spool, statuses):
        modem.ussd(CYRILLIC, code="*100#")
        balance = statuses.wait_for(lambda s: s["balance"] is not None)["balance"]
        assert balance["amount"] == 123.45
        assert balance["currency"] == "р."
        assert balance["raw"] == CYRILLIC
        assert balance["code"] == "*100#"
        assert balance["at"]
        # the operator matched by name, whatever its case; the other network's code was never asked
        assert {r["code"] for r in modem.state()["ussd"]["requests"]} == {"*100#"}


def test_a_check_that_times_out_is_reported_while_messages_keep_arriving(tmp_path: Path) -> None:
    checks = (UssdCheck("25001", "*100#", 1.0, timeout_s=3.0),)
    with checked_port(tmp_path, "ec25", checks) as (modem, worker, spool, statuses):
        stored = threading.Event()
        spool.on_new_message = lambda _rows: stored.set()
        assert worker.ready.wait(WAIT_S)
        modem.fault("ussd", "no-answer")
        assert modem.wait_until(lambda m: bool(m.state()["ussd"]["open"]), WAIT_S)
        modem.sms("+79161234567", "while the network thinks")
        assert stored.wait(WAIT_S)
        assert worker.status.balance_error is None  # stored while the USSD answer was still awaited
        assert [json.loads(r.payload)["text"] for r in spool.pending(10, set())] == ["while the network thinks"]
        error = statuses.wait_for(lambda s: s["balance_error"] is not None)["balance_error"]
        assert error["kind"] == "timeout"
        assert "within 3 s; the session was cancelled" in error["error"]
        assert error["code"] == "*100#"
        assert modem.wait_until(lambda m: not m.state()["ussd"]["open"], WAIT_S)
        assert worker.status.state == PortState.READY
        modem.fault("clear")
        recovered = statuses.wait_for(lambda s: s["balance"] is not None)
        assert recovered["balance"]["amount"] == 100.0
        assert recovered["balance_error"] is None


def test_a_refused_check_is_a_network_error_and_the_port_stays_ready(tmp_path: Path) -> None:
    with checked_port(tmp_path, "generic", (UssdCheck("*", "*100#", 1.0),)) as (modem, worker, _spool, statuses):
        modem.fault("ussd", "cancel")
        error = statuses.wait_for(lambda s: s["balance_error"] is not None)["balance_error"]
        assert error["kind"] == "network"
        assert "+CUSD: 2" in error["error"]
        assert worker.status.state == PortState.READY


def test_networks_match_by_name_or_by_the_imsi() -> None:
    assert UssdCheck("MTS RUS", "*100#", 60).matches("mts rus", "250011234")
    assert not UssdCheck("MTS RUS", "*100#", 60).matches("MegaFon", "250011234")
    assert UssdCheck("25001", "*100#", 60).matches(None, "250011234567890")
    assert not UssdCheck("25002", "*100#", 60).matches("MTS RUS", "250011234567890")
    assert not UssdCheck("25001", "*100#", 60).matches("MTS RUS", None)
    assert UssdCheck("*", "*100#", 60).matches(None, None)


@pytest.mark.parametrize(("text", "amount", "currency"), [
    ("Баланс: 123,45 р.", 123.45, "р."),
    ("Balance: 100.00 RUB", 100.0, "RUB"),
    ("Vash balans -12.50 r. Bonus 3.00", -12.5, "r."),
    ("Your credit is $7.25 until 01/12", 7.25, "$"),
    ("Ostatok 42.00", 42.0, None),
])
def test_the_amount_and_currency_are_read_from_the_answer(text: str, amount: float, currency: str | None) -> None:
    assert balance_of(text, UssdCheck("*", "*100#", 60)) == {"amount": amount, "currency": currency}


def test_no_amount_is_none() -> None:
    assert balance_of("Service unavailable", UssdCheck("*", "*100#", 60)) is None
    assert balance_of("Balance 12 rub", UssdCheck("*", "*100#", 60, amount=r"Balance (\d+)")) == {
        "amount": 12.0, "currency": "rub"}
