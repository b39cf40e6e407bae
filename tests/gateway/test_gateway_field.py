"""Field defects on modems the gateway had not met: transient errors ridden out in place, SMS-only registration,
a modem left in numeric mode with echo on, and the AT commands an idle port sees."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import serial

from hwsim import Bank, VirtualModem
from simhost.db import make_engine, upgrade
from simhost.gateway.spool import Spool
from simhost.gateway.worker import PortConfig, PortState, PortWorker
from simhost.topics import Topics
from simhost_drivers.modems import open_driver

WAIT_S = 30.0
PROFILES = ("generic", "sim800", "ec25", "e173")
SENDER = "+79161234567"


@contextmanager
def running(tmp_path: Path, profile: str, *, before: Any = None,
            **options: Any) -> Iterator[tuple[VirtualModem, PortWorker, Spool, threading.Event]]:
    """A one-port bank of `profile` (`before(modem)` runs before the worker opens it) and a ready worker."""
    bank = Bank(tmp_path / "bank", ports=1, profiles=(profile,), seed=11)
    bank.start()
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    spool = Spool(make_engine(db), Topics("t"), "RU")
    stored = threading.Event()
    spool.on_new_message = lambda _rows: stored.set()
    modem = bank.ports[0]
    if before is not None:
        before(modem)
    worker = PortWorker(PortConfig(name="port01", url=modem.path), spool,
                        lambda p: open_driver(p.url, port_name=p.name), **options)
    try:
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        yield modem, worker, spool, stored
    finally:
        worker.stop()
        worker.join()
        bank.stop()


def texts(spool: Spool) -> list[str]:
    return [json.loads(r.payload)["text"] for r in spool.pending(100, set())]


TRANSIENT = [(profile, "cms-error", code) for profile in PROFILES for code in ("314", "515")]
TRANSIENT += [(profile, "cme-error", "14") for profile in PROFILES] + [("ec25", "cms-error", "500")]


@pytest.mark.parametrize(("profile", "fault", "code"), TRANSIENT)
def test_a_transient_error_on_the_read_is_ridden_out(tmp_path: Path, profile: str, fault: str, code: str) -> None:
    with running(tmp_path, profile) as (modem, worker, spool, stored):
        modem.fault(fault, code)  # on the AT+CMGR that the +CMTI brings
        started = time.monotonic()
        modem.sms(SENDER, f"through {fault} {code}")
        assert stored.wait(WAIT_S), worker.status.to_json()
        took = time.monotonic() - started
        assert texts(spool) == [f"through {fault} {code}"]
        assert worker.status.restarts == 0, worker.status.last_error
        assert worker.entries(PortState.READY) == 1
        assert took < 1.0, f"published {took:.2f} s after delivery"


def test_a_permanent_error_still_restarts_the_session(tmp_path: Path) -> None:
    with running(tmp_path, "generic", backoff_max_s=0.05) as (modem, worker, spool, stored):
        modem.fault("cms-error", "500")  # not declared transient for a plain 27.005 modem
        modem.sms(SENDER, "after a restart")
        assert stored.wait(WAIT_S), worker.status.to_json()
        assert texts(spool) == ["after a restart"]
        assert worker.status.restarts == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_registered_for_sms_only_counts_as_registered(tmp_path: Path, profile: str) -> None:
    with running(tmp_path, profile, health_interval_s=0.05, reset_unregistered_after_s=0.3,
                 reset_interval_s=0.3) as (modem, worker, spool, stored):
        modem.fault("sms-only")
        asked = sum(1 for e in modem.state()["at_log"] if e["data"] == "AT+CREG?")
        # three registration checks (one every fifth health tick) take longer than the reset delay
        assert modem.wait_until(lambda m: sum(1 for e in m.state()["at_log"] if e["data"] == "AT+CREG?")
                                >= asked + 3, WAIT_S)
        modem.sms(SENDER, "on an SMS-only registration")
        assert stored.wait(WAIT_S)
        assert texts(spool) == ["on an SMS-only registration"]
        assert not any(e["data"] == "AT+CFUN=1,1" for e in modem.state()["at_log"])
        assert worker.status.registration == "home"
        assert worker.status.restarts == 0


def _left_numeric_with_echo(modem: VirtualModem) -> None:
    """What another program may leave: echo on, numeric result codes (ATV0 answers `0`)."""
    with serial.Serial(modem.path, timeout=WAIT_S) as line:
        line.write(b"ATE1 V0\r")
        assert line.read_until(b"0\r").endswith(b"0\r")


@pytest.mark.parametrize("profile", PROFILES)
def test_a_modem_left_in_numeric_mode_with_echo_is_brought_to_a_known_state(tmp_path: Path, profile: str) -> None:
    with running(tmp_path, profile, before=_left_numeric_with_echo) as (modem, worker, spool, stored):
        assert worker.entries(PortState.READY) == 1
        modem.sms(SENDER, "read in verbose mode")
        assert stored.wait(WAIT_S)
        assert texts(spool) == ["read in verbose mode"]


@pytest.mark.parametrize("profile", PROFILES)
def test_an_idle_port_sees_few_commands(tmp_path: Path, profile: str) -> None:
    # the defaults scaled down 300 times: a health tick every 0.2 s stands for one a minute
    tick = 0.2
    with running(tmp_path, profile, health_interval_s=tick, sweep_interval_s=30 * tick,
                 watchdog_idle_s=tick) as (modem, worker, _spool, _stored):
        start = time.time()
        window = 30 * tick
        assert not worker.stopping.wait(window + tick / 2)  # idle: nothing to wait for but time
        sent = [e for e in modem.state()["at_log"] if e["dir"] == "rx" and start <= e["t"] < start + window]
        per_tick = len(sent) / (window / tick)
        assert per_tick <= 3.0, f"{per_tick:.2f} commands per health interval: {[e['data'] for e in sent]}"
        assert worker.status.restarts == 0
