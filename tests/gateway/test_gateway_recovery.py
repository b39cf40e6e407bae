"""The recovery ladder on a virtual bank: wedged modems brought back by their reset command, a USB reset or a power
cycle of their hub port (the steps below tried and counted first), one found again under another tty name by its
USB place and IMEI, and one given up as dead and tried again later; the bank's other port receives throughout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim import Bank, Timing, VirtualModem
from simhost.db import make_engine, upgrade
from simhost.gateway.recovery import LadderTimings
from simhost.gateway.spool import OutboxRow, Spool
from simhost.gateway.worker import PortConfig, PortState, PortWorker
from simhost.topics import Topics
from simhost_drivers.at.channel import AtChannel
from simhost_drivers.modems import ModemDriver, choose_driver, probe_identity
from tests.gateway.hwsimphysical import HwsimPhysical

WAIT_S = 60.0
SENDER = "+79161234567"
TIMING = Timing(reboot_s=0.2, boot_line_gap_s=0.01, reenumerate_s=0.1, noise_interval_s=0.0)
LADDER = LadderTimings(reset_timeout_s=1.0, reset_settle_s=0.5, usb_settle_s=0.5, power_settle_s=0.5, healthy_s=60.0,
                       retry_first_s=1.0, retry_max_s=1.0)
WORKER_OPTIONS: dict[str, Any] = {"health_interval_s": 0.3, "watchdog_idle_s": 0.3, "sweep_interval_s": 30.0,
                                  "backoff_max_s": 0.2, "dead_after_failures": 100, "recovery_timings": LADDER}
RESET_COMMANDS = ("AT^RESET", "AT+CFUN=1,1")
RESYNC_S = 0.5


@dataclass
class Rig:
    bank: Bank
    workers: list[PortWorker]
    physical: list[HwsimPhysical]
    stored: list[dict[str, Any]]
    cond: threading.Condition

    def wait_text(self, text: str, port: str) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: any(p["text"] == text and p["port"] == port for p in self.stored),
                                      WAIT_S)

    def wait_ready(self) -> None:
        for w in self.workers:
            assert w.ready.wait(WAIT_S), w.status.to_json()


@contextmanager
def rig(tmp_path: Path, profile: str, **physical_options: bool) -> Iterator[Rig]:
    """A two-port bank (`profile`, then generic) and a worker for each, sharing a spool; port01's physical control
    takes `physical_options`."""
    bank = Bank(tmp_path / "bank", ports=2, profiles=(profile, "generic"), seed=11, timing=TIMING)
    bank.start()
    db = f"sqlite:///{tmp_path}/w.db"
    upgrade(db)
    engine = make_engine(db)
    spool = Spool(engine, Topics("t"), "RU")
    stored: list[dict[str, Any]] = []
    cond = threading.Condition()

    def on_rows(rows: list[OutboxRow]) -> None:
        with cond:
            stored.extend(json.loads(r.payload) for r in rows)
            cond.notify_all()
    spool.on_new_message = on_rows

    def factory(p: PortConfig) -> ModemDriver:
        # open_driver's, with a short resynchronisation: a silent modem then fails a session in 2.5 s, not 10
        channel = AtChannel.open(p.url, name=p.name, resync_timeout_s=RESYNC_S)
        try:
            return choose_driver(*probe_identity(channel))(channel)
        except BaseException:
            channel.close()
            raise

    physical = [HwsimPhysical(bank.directory, **physical_options), HwsimPhysical(bank.directory)]
    workers = [PortWorker(PortConfig(m.name, m.path), spool, factory, physical=ph, **WORKER_OPTIONS)
               for m, ph in zip(bank.ports, physical, strict=True)]
    r = Rig(bank, workers, physical, stored, cond)
    try:
        for w in workers:
            w.start()
        r.wait_ready()
        yield r
    finally:
        for w in workers:
            w.stop()
        for w in workers:
            w.join()
        bank.stop()
        engine.dispose()


def sent_lines(modem: VirtualModem) -> list[str]:
    return [e["data"].strip() for e in modem.state()["at_log"] if e["dir"] == "rx"]


def wedge_and_deliver_elsewhere(r: Rig, fault: str) -> None:
    """Wedge port01 and, once its worker noticed, deliver to port02 while port01 climbs the ladder."""
    wedged, other = r.bank.ports
    degraded = r.workers[0].entries(PortState.DEGRADED)
    wedged.fault(fault)
    assert r.workers[0].wait_entered(PortState.DEGRADED, degraded, WAIT_S), r.workers[0].status.to_json()
    other.sms(SENDER, f"port02 while port01 is {fault}")
    assert r.wait_text(f"port02 while port01 is {fault}", "port02")
    assert r.workers[0].status.state != PortState.READY  # it arrived during the recovery
    wedged.sms(SENDER, f"port01 held while {fault}")


def assert_back(r: Rig, fault: str, counts: dict[str, int], helped: str) -> dict[str, Any]:
    worker = r.workers[0]
    assert worker.ready.wait(WAIT_S), worker.status.to_json()
    assert r.wait_text(f"port01 held while {fault}", "port01")
    status = worker.status.to_json()
    recovery = status["recovery"]
    assert recovery["step"] == helped
    assert recovery["counts"] == counts
    assert recovery["helped"] == {helped: 1}
    assert recovery["last_at"] is not None
    assert not recovery["gave_up"]
    # the other port was never touched
    other = r.workers[1].status.to_json()["recovery"]
    assert other["counts"] == {}
    assert r.physical[1].actions == []
    assert not [line for line in sent_lines(r.bank.ports[1]) if line in RESET_COMMANDS]
    assert r.workers[1].entries(PortState.DEGRADED) == 0
    return status


def test_wedged_until_reset_comes_back_at_the_reset_step(tmp_path: Path) -> None:
    # a Huawei: AT^RESET first (the E173 does not know it), then AT+CFUN=1,1
    with rig(tmp_path, "e173") as r:
        wedge_and_deliver_elsewhere(r, "wedge-until-reset")
        assert_back(r, "wedge-until-reset", {"watchdog": 1, "reopen": 1, "reset": 1}, "reset")
        resets = [line for line in sent_lines(r.bank.ports[0]) if line in RESET_COMMANDS]
        assert resets == ["AT^RESET", "AT+CFUN=1,1"]
        assert r.physical[0].actions == []


def test_wedged_until_power_cycle_climbs_to_the_power_cycle(tmp_path: Path) -> None:
    with rig(tmp_path, "generic") as r:
        wedge_and_deliver_elsewhere(r, "wedge-until-power-cycle")
        assert_back(r, "wedge-until-power-cycle",
                    {"watchdog": 1, "reopen": 1, "reset": 1, "usb-reset": 1, "power-cycle": 1}, "power-cycle")
        assert r.physical[0].actions == [("usb-reset", "1-1.1"), ("power-cycle", "1-1.1")]


def test_renumbered_modem_is_found_by_its_usb_place_and_imei(tmp_path: Path) -> None:
    with rig(tmp_path, "sim800") as r:
        modem, worker = r.bank.ports[0], r.workers[0]
        registered = modem.path
        modem.fault("renumber-on-reset")
        wedge_and_deliver_elsewhere(r, "wedge-until-usb-reset")
        status = assert_back(r, "wedge-until-usb-reset", {"watchdog": 1, "reopen": 1, "reset": 1, "usb-reset": 1},
                             "usb-reset")
        assert modem.path == f"{registered}-r1"
        assert status["device"] == modem.path
        assert status["imei"] == modem.imei
        assert worker.config.url == registered  # the registry's URL is left as it is
        modem.sms(SENDER, "port01 on its new tty")
        assert r.wait_text("port01 on its new tty", "port01")


def test_without_power_cycle_the_port_is_dead_after_the_usb_reset_and_tried_again(tmp_path: Path) -> None:
    with rig(tmp_path, "ec25", power_cycle=False) as r:
        worker = r.workers[0]
        wedge_and_deliver_elsewhere(r, "wedge-until-power-cycle")
        assert worker.wait_entered(PortState.DEAD, 0, WAIT_S), worker.status.to_json()
        recovery = worker.status.to_json()["recovery"]
        assert recovery["gave_up"]
        assert recovery["counts"] == {"watchdog": 1, "reopen": 1, "reset": 1, "usb-reset": 1}
        # later the whole ladder is climbed again (watchdog aside: the port is closed by then), and given up again
        assert worker.wait_entered(PortState.DEAD, 1, WAIT_S), worker.status.to_json()
        assert worker.status.to_json()["recovery"]["counts"] == {"watchdog": 1, "reopen": 2, "reset": 2,
                                                                 "usb-reset": 2}
        assert r.physical[0].actions == [("usb-reset", "1-1.1"), ("usb-reset", "1-1.1")]
        other = r.bank.ports[1]
        other.sms(SENDER, "port02 while port01 is dead")
        assert r.wait_text("port02 while port01 is dead", "port02")
        r.bank.ports[0].fault("clear")  # what a power cycle by hand would do
        assert worker.ready.wait(WAIT_S), worker.status.to_json()
        assert r.wait_text("port01 held while wedge-until-power-cycle", "port01")
        assert r.workers[1].entries(PortState.DEGRADED) == 0


def test_a_modem_that_answers_at_is_not_climbed(tmp_path: Path) -> None:
    # a restart announced by the modem: the watchdog's AT is answered, nothing stronger is tried
    with rig(tmp_path, "sim800") as r:
        worker = r.workers[0]
        readies = worker.entries(PortState.READY)
        r.bank.ports[0].fault("reboot")
        assert worker.wait_entered(PortState.READY, readies, WAIT_S), worker.status.to_json()
        counts = worker.status.to_json()["recovery"]["counts"]
        assert set(counts) <= {"watchdog"}, counts
        assert r.physical[0].actions == []

