"""Every driver against its hwsim profile over the profile's pty: probing, init, storage, events, calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank, Timing, VirtualModem
from simhost_drivers.modems import GenericDriver, RegistrationState, open_driver
from tests.drivers.driverevents import Events

WAIT_S = 10.0
PROFILE_DRIVERS = {"generic": "generic", "sim800": "simcom", "ec25": "quectel", "e173": "huawei"}
PROFILES = list(PROFILE_DRIVERS)
SENDER = "+79161234567"
LONG_TEXT = "Part of a long message that needs two parts. " * 5


@dataclass
class Rig:
    bank: Bank
    modem: VirtualModem
    driver: GenericDriver
    events: Events

    def slot(self) -> dict[str, Any]:
        port = self.bank.info["ports"][0]
        return next(s for s in port["slots"] if s["slot"] == port["active_slot"])

    def storage(self) -> list[dict[str, Any]]:
        return list(self.modem.state()["storage"])


@pytest.fixture(params=PROFILES)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    # Frequent vendor noise, so that Huawei's ^RSSI/^BOOT also land in the middle of answers.
    timing = Timing(ring_interval_s=0.5, noise_interval_s=0.05)
    bank = Bank(tmp_path / "bank", ports=1, profiles=(request.param,), slots=2, seed=3, timing=timing)
    bank.start()
    try:
        modem = bank.ports[0]
        driver = open_driver(modem.path, port_name=modem.name)
        try:
            yield Rig(bank, modem, driver, Events(driver))
        finally:
            driver.close()
    finally:
        bank.stop()


def test_probing_picks_the_profiles_driver(rig: Rig) -> None:
    assert rig.driver.name == PROFILE_DRIVERS[rig.modem.profile]


def test_init_reads_identity_and_settings(rig: Rig) -> None:
    info = rig.driver.init()
    slot = rig.slot()
    assert info.driver == PROFILE_DRIVERS[rig.modem.profile]
    assert info.imei == rig.modem.imei
    assert info.iccid == slot["iccid"]
    assert info.imsi == slot["imsi"]
    assert info.msisdn == slot["msisdn"]
    assert info.operator
    assert info.sim_state == "READY"
    assert info.registration in (RegistrationState.HOME, RegistrationState.ROAMING)
    assert info.storage_total is not None
    assert info.storage_total > 0
    assert info.cnmi is not None, info.notes
    assert rig.driver.registration() == info.registration
    assert rig.driver.storage_status() == (0, info.storage_total)
    dbm = rig.driver.signal_dbm()
    assert dbm is None or -113 <= dbm <= -51


def test_list_read_delete(rig: Rig) -> None:
    rig.driver.init()
    parts = rig.modem.sms(SENDER, LONG_TEXT)
    assert len(parts) == 2
    assert rig.modem.wait_until(lambda m: len(m.state()["storage"]) == 2, WAIT_S)
    listed = rig.driver.list_messages()
    assert [m.pdu_hex for m in listed] == [p.upper() for p in parts]
    first = rig.driver.read_message(listed[0].index)
    assert first is not None
    assert first.pdu_hex == parts[0].upper()
    assert rig.driver.storage_status()[0] == 2
    for stored in listed:
        rig.driver.delete_message(stored.index)
    assert rig.storage() == []
    assert rig.driver.read_message(listed[0].index) is None
    assert rig.driver.list_messages() == []


def test_new_message_callback(rig: Rig) -> None:
    rig.driver.init()
    parts = rig.modem.sms(SENDER, "hello from hwsim")
    events = rig.events.wait_for(lambda seen: any(k == "new" for k, _ in seen))
    memory, index = next(v for k, v in events if k == "new")
    assert memory == rig.driver.memory
    stored = rig.driver.read_message(index)
    assert stored is not None
    assert stored.pdu_hex == parts[0].upper()


def test_ring_clip_and_hang_up(rig: Rig) -> None:
    rig.driver.init()
    rig.modem.call(SENDER, rings=5)
    rig.events.wait_for(lambda seen: {"ring", "clip"} <= {k for k, _ in seen})
    number, number_type, validity = rig.events.of("clip")[0]
    assert number == SENDER
    assert number_type == 145
    assert validity in (None, 0)
    assert rig.driver.hang_up() is True
    assert rig.modem.wait_until(lambda m: bool(m.calls()) and m.calls()[0]["hung_up_at"] is not None,
                                WAIT_S)
    assert rig.modem.calls()[0]["hangup_command"] == rig.driver.quirks.hangup_command


def test_withheld_caller(rig: Rig) -> None:
    rig.driver.init()
    rig.modem.call(None, withheld=True, rings=5)
    rig.events.wait_for(lambda seen: any(k == "clip" for k, _ in seen))
    number, _type, validity = rig.events.of("clip")[0]
    assert number == "" or validity in (1, 2)
    assert rig.driver.hang_up() is True
    assert rig.modem.wait_until(lambda m: m.calls()[0]["hung_up_at"] is not None, WAIT_S)


def test_driver_survives_garbage_and_urc_in_response(rig: Rig) -> None:
    rig.driver.init()
    rig.modem.fault("garbage")
    rig.driver.ping()
    rig.modem.sms(SENDER, "stored before the listing")
    rig.modem.fault("urc-in-response")
    listed = rig.driver.list_messages()
    assert len(listed) == 1
    rig.modem.fault("clear")
    rig.driver.ping()
    assert not rig.driver.channel.closed


def test_unplug_reports_connection_lost(rig: Rig) -> None:
    rig.driver.init()
    rig.modem.fault("unplug")
    rig.events.wait_for(lambda seen: any(k == "lost" for k, _ in seen))
    assert rig.driver.channel.closed
