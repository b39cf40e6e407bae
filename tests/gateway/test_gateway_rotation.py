"""SIM rotation on a virtual bank of 4 ports x 8 slots, with real port workers and the bank's own slot switch: every
slot comes online within the period, SMS held by the network for SIMs out of their slots arrive, a SIM is drained
before it leaves, a pinned slot stays, a SIM the network refuses is reported overdue, a queued send holds its port.

One run of the bank serves every test of the module (the first test to ask runs it, and stops it before it ends).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from hwsim import Bank, Timing
from simhost.db import make_engine
from simhost.gateway.rotation import RotationScheduler, RotationTimes
from simhost.gateway.spool import Spool
from simhost.gateway.worker import PortConfig, PortWorker
from simhost.registry.models import SimSlot
from simhost.sending.models import FINAL, SENT, Send
from simhost.sending.queue import SendQueue
from simhost.sending.requests import SendRequest, accept
from simhost.topics import Topics
from simhost_drivers.modems import ModemDriver, open_driver
from simhost_drivers.slots import HwsimSwitcher, SlotSwitcher
from tests.router.routerlib import cli

PORTS, SLOTS = 4, 8
EVERY_S = 16.0  # the period in which every slot must come online
TIMES = RotationTimes(online_s=0.3, every_s=EVERY_S, register_s=3.0, drain_s=10.0, send_wait_s=10.0, reload_s=0.5)
TIMING = Timing(ring_interval_s=0.3, sim_swap_s=0.1, reboot_s=0.2, boot_line_gap_s=0.01, cnma_timeout_s=0.5,
                noise_interval_s=0.5)
SENDER = "+79161234567"
PREFIX = "t"
PINNED = ("port02", 5)
DENIED = ("port03", 4)
SENDING = ("port04", 2)  # a send is queued as soon as this slot comes online; the first try is refused
RUN_LIMIT_S = EVERY_S + 15.0


@dataclass
class Run:
    """What the rotation did: the switches, what was in the spool at each, what each SIM keeps."""

    info: dict[str, Any]
    switches: list[tuple[str, int, int | None]] = field(default_factory=list)  # port, from slot, to slot
    spool_at_switch: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # by (port, slot left)
    send_state_at_switch: dict[tuple[str, int], str] = field(default_factory=dict)
    online: dict[tuple[str, int], float] = field(default_factory=dict)  # first time online, from the start
    stored: dict[int, str] = field(default_factory=dict)  # port01: the text stored on each slot's SIM
    held: dict[int, str] = field(default_factory=dict)  # port01: the text the network held for each slot
    texts: dict[str, str] = field(default_factory=dict)  # spool: text -> ICCID, at the end
    sim_storage: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    overdue: dict[str, list[int]] = field(default_factory=dict)
    last_online: dict[tuple[str, int], bool] = field(default_factory=dict)
    send_state: str = ""
    elapsed_s: float = 0.0


class RecordingSwitcher(HwsimSwitcher):
    """The bank's own switch, noting what was true at each."""

    def __init__(self, urls: dict[str, str], before: Any) -> None:
        super().__init__(urls)
        self.before = before

    def switch(self, port: str, slot: int) -> None:
        self.before(port, slot)
        super().switch(port, slot)


def _spool_texts(spool: Spool) -> dict[str, str]:
    return {json.loads(r.payload)["text"]: json.loads(r.payload)["iccid"] for r in spool.pending(1000, set())
            if r.topic.startswith(f"{PREFIX}/v1/inbound/")}


@cache
def rotation_run(tmp_dir: str) -> Run:
    tmp_path = Path(tmp_dir)
    bank = Bank(tmp_path / "bank", ports=PORTS, slots=SLOTS, profiles=("generic", "sim800", "ec25", "e173"), seed=8,
                timing=TIMING)
    info = bank.start()
    run = Run(info)
    db = f"sqlite:///{tmp_path / 'simhost.db'}"
    cli(db, "db", "upgrade")
    cli(db, "owner", "add", "acme", "--verified")
    for n, port in enumerate(info["ports"], start=1):
        cli(db, "port", "add", port["name"], "--url", port["path"])
        for sim in port["slots"]:
            cli(db, "slot", "add", "--bank", str(n), "--slot", str(sim["slot"]), "--iccid", sim["iccid"],
                "--msisdn", sim["msisdn"], "--kind", "virtual", "--owner", "acme", "--port", port["name"])
    pinned_number = info["ports"][1]["slots"][PINNED[1] - 1]["msisdn"]
    cli(db, "slot", "pin", pinned_number)
    bank.port(DENIED[0]).fault("denied", str(DENIED[1]))
    modem01 = bank.port("port01")
    for k in range(2, SLOTS + 1):
        run.held[k] = f"held by the network for slot {k}"
        modem01.sms(SENDER, run.held[k], slot=k)

    engine = make_engine(db)
    topics = Topics(PREFIX)
    spool = Spool(engine, topics, "RU")
    sends = SendQueue(engine, topics, "RU")

    def factory(p: PortConfig) -> ModemDriver:
        return open_driver(p.url, port_name=p.name)

    workers = {p["name"]: PortWorker(PortConfig(p["name"], p["path"]), spool, factory, sends=sends,
                                     health_interval_s=1.0, backoff_max_s=1.0, send_gap_s=0.2, send_retry_s=1.0)
               for p in info["ports"]}
    sessions = sessionmaker(engine, expire_on_commit=False)
    send_id: list[str] = []
    start = time.monotonic()
    done = threading.Condition()
    scheduler: RotationScheduler | None = None

    def current(port: str) -> int | None:
        assert scheduler is not None
        slot = scheduler.ports[port].current
        return slot.slot if slot is not None else None

    def before_switch(port: str, slot: int) -> None:  # on the scheduler's thread, after the drain
        left = current(port)
        run.switches.append((port, left or 0, slot))
        if left is not None:
            run.spool_at_switch[(port, left)] = set(_spool_texts(spool))
            if (port, left) == SENDING and send_id:
                with sessions() as s:
                    row = s.get(Send, send_id[0])
                    run.send_state_at_switch[SENDING] = row.state if row else "none"

    def on_change(port: str) -> None:  # on the scheduler's thread: nothing switches meanwhile
        slot = current(port)
        if slot is not None and (port, slot) not in run.online:
            run.online[(port, slot)] = time.monotonic() - start
            if port == "port01":
                run.stored[slot] = f"stored on the SIM in slot {slot} while it was online"
                modem01.store("SM", SENDER, run.stored[slot])
            if (port, slot) == SENDING:
                bank.port(port).fault("send-error", "42")
                number = info["ports"][3]["slots"][slot - 1]["msisdn"]
                with sessions.begin() as s:
                    row, _ = accept(s, SendRequest("acme", number, SENDER, "a send that holds its port"),
                                    region="RU", source="cli", topics=topics)
                    send_id.append(row.id)
                workers[port].notify_send_due()
        with done:
            done.notify_all()

    switchers: SlotSwitcher = RecordingSwitcher({p["name"]: p["path"] for p in info["ports"]}, before_switch)
    scheduler = RotationScheduler(list(workers.values()), engine, lambda _bank: switchers, TIMES,
                                  on_change=on_change)

    def finished() -> bool:
        every = all((p["name"], k) in run.online for p in info["ports"] for k in range(1, SLOTS + 1)
                    if p["name"] not in (PINNED[0], DENIED[0]) or k == PINNED[1]
                    or (p["name"] == DENIED[0] and k != DENIED[1]))
        return every and DENIED[1] in scheduler.overdue(DENIED[0])

    try:
        for w in workers.values():
            w.start()
        scheduler.start()
        with done:
            done.wait_for(finished, RUN_LIMIT_S)
        run.elapsed_s = time.monotonic() - start
        run.overdue = {name: scheduler.overdue(name) for name in workers}
    finally:
        scheduler.stop()
        for w in workers.values():
            w.stop()
        for w in workers.values():
            w.join()
        run.texts = _spool_texts(spool)
        for p in info["ports"]:
            state = bank.port(p["name"]).state()
            run.sim_storage[p["name"]] = state["sim_storage"]
            run.active[p["name"]] = state["active_slot"]
        with sessions() as s:
            run.last_online = {(row.port or "", row.slot): row.last_online_at is not None
                               for row in s.scalars(select(SimSlot))}
            row = s.get(Send, send_id[0]) if send_id else None
            run.send_state = row.state if row else "none"
        engine.dispose()
        bank.stop()
    return run


@pytest.fixture
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return rotation_run(str(tmp_path_factory.getbasetemp() / "rotation"))


def test_every_slot_comes_online_within_the_period(run: Run) -> None:
    for port in ("port01", "port04"):
        firsts = [run.online.get((port, k)) for k in range(1, SLOTS + 1)]
        assert all(t is not None and t <= EVERY_S for t in firsts), (port, firsts, run.switches)
        assert all(run.last_online[(port, k)] for k in range(1, SLOTS + 1)), run.last_online
    assert run.elapsed_s < RUN_LIMIT_S, (sorted(run.online), run.overdue, run.switches)


def test_an_sms_held_for_a_sim_out_of_its_slot_arrives_when_the_slot_comes_online(run: Run) -> None:
    slots = run.info["ports"][0]["slots"]
    for k, text in run.held.items():
        assert run.texts.get(text) == slots[k - 1]["iccid"], (k, sorted(run.texts))


def test_each_sim_is_drained_before_it_leaves(run: Run) -> None:
    left = [(slot, to) for port, slot, to in run.switches if port == "port01" and slot]
    assert len(left) >= SLOTS - 1, run.switches
    for slot, _to in left:
        assert run.stored[slot] in run.spool_at_switch[("port01", slot)], slot
        stored_pdus = run.sim_storage["port01"][str(slot)]
        assert stored_pdus == [], (slot, stored_pdus)


def test_a_pinned_slot_is_never_left(run: Run) -> None:
    port, slot = PINNED
    moves = [to for p, _left, to in run.switches if p == port]
    assert moves in ([], [slot]), moves
    assert run.active[port] == slot
    assert run.overdue[port] == [k for k in range(1, SLOTS + 1) if k != slot] or run.elapsed_s < EVERY_S


def test_a_sim_that_never_registers_is_skipped_and_reported_overdue(run: Run) -> None:
    port, slot = DENIED
    assert slot in run.overdue[port], run.overdue
    assert not run.last_online[(port, slot)]
    assert (port, slot) not in run.online
    others = [k for k in range(1, SLOTS + 1) if k != slot]
    assert all((port, k) in run.online for k in others), sorted(run.online)


def test_a_queued_send_holds_its_port_until_it_is_sent(run: Run) -> None:
    assert run.send_state_at_switch.get(SENDING) in (SENT, *FINAL), run.send_state_at_switch
    assert run.send_state in (SENT, "delivered"), run.send_state
