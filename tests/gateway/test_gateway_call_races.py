"""Calls close together on one port, against every hwsim profile over real ptys: each call is one [CALL] message
and one hang-up, whatever the modem repeats around the hang-up and whatever a recovery interrupted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank, Timing, VirtualModem
from simhost.db import make_engine, upgrade
from simhost.gateway.spool import Spool
from simhost.gateway.worker import PortConfig, PortState, PortStatus, PortWorker
from simhost.topics import Topics
from simhost_drivers.modems import open_driver

PROFILES = ("generic", "sim800", "ec25", "e173")
WAIT_S = 30.0
RINGS = 5
CALLER = "+79035550001"
OTHER = "+79161112233"
WITHHELD = None
HANG_UP_COMMANDS = ("ATH", "AT+CHUP", "AT+CHLD=0", "AT+CHLD=1")
# the recovery test's calls ring this far apart: only AT+CLCC can reveal one ringing while the port was away
SLOW_RINGS = Timing(ring_interval_s=20.0)


@dataclass
class CallRig:
    modem: VirtualModem
    worker: PortWorker
    spool: Spool
    stored: threading.Condition
    statuses: list[tuple[PortState, float]]

    def call(self, caller: str | None) -> dict[str, Any]:
        """Ring the port and wait until the call ends; the call as hwsim saw it."""
        call_id = self.modem.call(caller, rings=RINGS, withheld=caller is None)

        def ended(m: VirtualModem) -> bool:
            return next(c for c in m.calls() if c["id"] == call_id)["state"] != "ringing"
        assert self.modem.wait_until(ended, WAIT_S)
        return next(c for c in self.modem.calls() if c["id"] == call_id)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.payload) for r in self.spool.pending(1000, set())]

    def settle(self) -> None:
        """Wait until the worker has handled every line the modem sent so far: an SMS sent now is stored after
        them, since the worker handles the modem's lines in order."""
        text = f"barrier {time.monotonic()}"
        self.modem.sms("+79160000000", text)
        with self.stored:
            assert self.stored.wait_for(lambda: any(p.get("text") == text for p in self.payloads()), WAIT_S)

    def assert_calls(self, callers: list[str | None]) -> None:
        """One [CALL] message and one hang-up for each of `callers`, in order, and nothing else."""
        self.settle()
        calls = [p for p in self.payloads() if p["kind"] == "call"]
        assert [(c["sender"], c["sender_type"] == "withheld") for c in calls] == [
            (caller or "withheld", caller is None) for caller in callers]
        assert all(c["text"] == "[CALL]" for c in calls)
        seen = self.modem.calls()
        assert [(c["caller"], c["state"]) for c in seen] == [(caller, "hung-up") for caller in callers]
        # each at its first ring: a call taken for another's leftovers at first and caught at its next ring
        # (RING_INTERVAL_S later) would be answered late
        assert [c["rings_sent"] for c in seen] == [1] * len(callers), seen
        commands = [e["data"] for e in self.modem.state()["at_log"]
                    if e["dir"] == "rx" and e["data"] in HANG_UP_COMMANDS]
        assert len(commands) == len(callers), commands

    def ready_times(self) -> list[float]:
        return [t for state, t in self.statuses if state == PortState.READY]


@contextmanager
def call_rig(tmp_path: Path, profile: str, timing: Timing | None = None, **options: Any) -> Iterator[CallRig]:
    bank = Bank(tmp_path / "bank", ports=1, profiles=(profile,), seed=11, timing=timing)
    bank.start()
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    stored = threading.Condition()

    def announce(_rows: object) -> None:
        with stored:
            stored.notify_all()
    spool = Spool(make_engine(db), Topics("t"), "RU", on_new_message=announce)
    statuses: list[tuple[PortState, float]] = []
    last: list[PortState] = []

    def on_status(status: PortStatus) -> None:
        if not last or last[-1] != status.state:
            last.append(status.state)
            statuses.append((status.state, time.time()))

    def factory(p: PortConfig) -> Any:
        return open_driver(p.url, port_name=p.name)

    worker = PortWorker(PortConfig(name="port01", url=bank.ports[0].path), spool, factory, on_status=on_status,
                        **options)
    try:
        worker.start()
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        yield CallRig(bank.ports[0], worker, spool, stored, statuses)
    finally:
        worker.stop()
        worker.join()
        bank.stop()


def pace(since_wall: float, seconds: float) -> None:
    """Let `seconds` pass since `since_wall` (time.time()): spacing calls as a caller would, not waiting for state."""
    time.sleep(max(0.0, since_wall + seconds - time.time()))


@pytest.mark.parametrize("profile", PROFILES)
def test_two_calls_a_second_apart_from_one_number(tmp_path: Path, profile: str) -> None:
    with call_rig(tmp_path, profile) as rig:
        first = rig.call(CALLER)
        assert first["state"] == "hung-up"
        pace(first["first_ring_at"], 1.0)
        rig.call(CALLER)
        rig.assert_calls([CALLER, CALLER])


@pytest.mark.parametrize("profile", PROFILES)
def test_withheld_right_after_numbered_and_the_reverse(tmp_path: Path, profile: str) -> None:
    with call_rig(tmp_path, profile) as rig:
        for caller in (CALLER, WITHHELD, CALLER, WITHHELD, WITHHELD):
            rig.call(caller)  # each one placed as soon as the previous one was hung up
        rig.assert_calls([CALLER, WITHHELD, CALLER, WITHHELD, WITHHELD])


@pytest.mark.parametrize("profile", PROFILES)
def test_ring_repeated_at_the_hang_up_is_no_second_call(tmp_path: Path, profile: str) -> None:
    with call_rig(tmp_path, profile) as rig:
        rig.modem.fault("clip-repeat")  # repeated before the hang-up's final result
        rig.call(CALLER)
        rig.modem.fault("clip-repeat", "after")  # and right after it
        rig.call(CALLER)
        rig.modem.fault("clip-repeat", "after")
        rig.call(WITHHELD)
        rig.call(CALLER)
        rig.assert_calls([CALLER, CALLER, WITHHELD, CALLER])


@pytest.mark.parametrize("profile", PROFILES)
def test_call_starting_while_the_last_no_carrier_arrives(tmp_path: Path, profile: str) -> None:
    with call_rig(tmp_path, profile) as rig:
        rig.modem.fault("late-no-carrier")
        rig.call(CALLER)
        rig.modem.fault("late-no-carrier")
        rig.call(CALLER)
        rig.call(OTHER)
        rig.assert_calls([CALLER, CALLER, OTHER])


@pytest.mark.parametrize("profile", PROFILES)
def test_call_ringing_during_a_recovery_is_hung_up_once_ready(tmp_path: Path, profile: str) -> None:
    with call_rig(tmp_path, profile, timing=SLOW_RINGS, watchdog_idle_s=1.0, backoff_max_s=0.5) as rig:
        degraded = rig.worker.entries(PortState.DEGRADED)
        rig.modem.fault("hang")
        assert rig.worker.wait_entered(PortState.DEGRADED, degraded, WAIT_S), rig.worker.status.to_json()
        readies = rig.worker.entries(PortState.READY)
        # its first ring is lost in the hang; the next one comes only after SLOW_RINGS' interval
        call_id = rig.modem.call(CALLER, rings=3)
        cleared_at = time.time()
        rig.modem.fault("clear")
        assert rig.worker.wait_entered(PortState.READY, readies, WAIT_S), rig.worker.status.to_json()
        assert rig.modem.wait_until(lambda m: m.calls()[-1]["state"] != "ringing", WAIT_S)
        [call] = [c for c in rig.modem.calls() if c["id"] == call_id]
        assert call["state"] == "hung-up"
        ready_at = next(t for t in rig.ready_times() if t >= cleared_at)
        assert call["hung_up_at"] - ready_at < 1.0, (call, ready_at)
        rig.assert_calls([CALLER])
