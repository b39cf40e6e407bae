"""Message memories: the receive storage each driver sets, the memories a sweep drains, reading another memory
and going back, per-memory counts; against each family's hwsim profile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from hwsim import Bank, Timing, VirtualModem
from simhost_drivers.modems import GenericDriver, open_driver
from simhost_drivers.modems import parsing as p
from simhost_drivers.modems.generic import storages_to_drain
from tests.drivers.driverevents import Events

SENDER = "+79161234567"
# ec25 keeps status reports in SR without listing it in AT+CPMS=?: its driver drains SR all the same
DRAINED = {"generic": ("SM", "ME"), "sim800": ("SM", "ME"), "ec25": ("SM", "ME", "SR"), "e173": ("SM", "ME", "SR")}


@contextmanager
def driver_on(tmp_path: Path, profile: str, preload: list[str]) -> Iterator[tuple[VirtualModem, GenericDriver]]:
    with Bank(tmp_path / "bank", profiles=(profile,), timing=Timing(noise_interval_s=0.05), seed=8,
              preload=preload) as bank:
        modem = bank.ports[0]
        driver = open_driver(modem.path, port_name=modem.name)
        try:
            yield modem, driver
        finally:
            driver.close()


def test_storages_to_drain() -> None:
    assert storages_to_drain(["SM", "ME", "MT"]) == ["SM", "ME"]
    assert storages_to_drain(["ME", "MT", "SM", "SR"]) == ["ME", "SM", "SR"]
    assert storages_to_drain(["SM", "ME", "SM_P", "ME_P", "MT"]) == ["SM", "ME"]
    # MT without ME among the choices: MT holds what SM holds and more, so it is read instead
    assert storages_to_drain(["SM", "MT"]) == ["MT"]
    assert storages_to_drain(["MT"]) == ["MT"]
    assert storages_to_drain(["SM", "BM", "SM"]) == ["SM"]


def test_cpms_query_usage() -> None:
    assert p.cpms_query_usage('"SM",1,20,"ME",3,255,"SM",1,20') == {"SM": (1, 20), "ME": (3, 255)}
    assert p.cpms_query_usage("1,20,1,20,1,20") == {}


@pytest.mark.parametrize("profile", list(DRAINED))
def test_init_sets_sm_whatever_the_modem_kept_and_names_every_memory(tmp_path: Path, profile: str) -> None:
    with driver_on(tmp_path, profile, ["port01:ME:2", "port01:SM:1"]) as (modem, driver):
        info = driver.init()
        assert modem.state()["settings"]["cpms"] == ["SM", "SM", "SM"]
        assert (info.storage, info.storage_used, info.storage_total) == ("SM", 1, 20)
        assert info.storages == DRAINED[profile]
        me = [s["pdu"] for s in modem.state()["storage"] if s["mem"] == "ME"]
        found = driver.list_messages(4, memory="ME")
        assert [s.pdu for s in found] == me
        assert modem.state()["settings"]["cpms"] == ["ME", "SM", "SM"]  # <mem1> only
        driver.delete_message(found[0].index, memory="ME")
        driver.restore_memory()
        assert modem.state()["settings"]["cpms"] == ["SM", "SM", "SM"]
        storages, read = driver.storages_status()
        assert read == (1, 20)
        assert storages["SM"] == (1, 20)
        assert storages["ME"][0] == 1


def test_a_cmti_naming_another_memory_is_read_there(tmp_path: Path) -> None:
    with driver_on(tmp_path, "sim800", ["port01:SM:1"]) as (modem, driver):
        events = Events(driver)
        driver.init()
        driver.channel.command('AT+CPMS="SM","SM","ME"', expect=("+CPMS:",))
        pdu = modem.sms(SENDER, "stored in ME")[0]
        assert events.wait_for(lambda seen: bool([v for k, v in seen if k == "new"]))[-1] == ("new", ("ME", 1))
        stored = driver.read_message(1, memory="ME")
        assert stored is not None
        assert stored.pdu == pdu
        driver.restore_memory()
        sm = driver.read_message(1)
        assert sm is not None
        assert sm.pdu != pdu


def test_receive_storage_is_a_quirk(tmp_path: Path) -> None:
    with driver_on(tmp_path, "ec25", []) as (modem, driver):
        driver.quirks = replace(driver.quirks, receive_storage="ME")
        info = driver.init()
        assert modem.state()["settings"]["cpms"] == ["ME", "ME", "ME"]
        assert info.storages == ("ME", "SM", "SR")
