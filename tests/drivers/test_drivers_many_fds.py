"""A port whose descriptor is numbered above 1024 (a gateway with hundreds of ports) works like any other."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwsim import Bank
from simhost_drivers.at.errors import PortOpenError
from simhost_drivers.at.transport import SerialTransport
from simhost_drivers.modems import open_driver
from tests.drivers.driverevents import Events

SELECT_LIMIT = 1024


@pytest.fixture
def high_fds() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < SELECT_LIMIT + 200:
        pytest.skip(f"the hard limit on open files ({hard}) is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, SELECT_LIMIT + 200), hard))
    fillers = []
    try:
        while not fillers or fillers[-1] < SELECT_LIMIT + 10:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_driver_on_descriptor_above_select_limit(tmp_path: Path, high_fds: None) -> None:
    bank = Bank(tmp_path / "bank", ports=1, profiles=("sim800",), seed=8)
    bank.start()
    modem = bank.ports[0]
    try:
        driver = open_driver(modem.path, port_name=modem.name)
        try:
            assert driver.channel._transport._fd is not None  # type: ignore[attr-defined]
            assert driver.channel._transport._fd > SELECT_LIMIT  # type: ignore[attr-defined]
            events = Events(driver)
            info = driver.init()
            assert info.iccid == bank.info["ports"][0]["slots"][0]["iccid"]
            modem.sms("+79161234567", "high descriptor")
            kind, (_mem, index) = events.wait(1)[-1]
            assert kind == "new"
            stored = driver.read_message(index)
            assert stored is not None
        finally:
            driver.close()
    finally:
        bank.stop()


def test_a_modem_open_in_one_place_cannot_be_opened_in_another(tmp_path: Path) -> None:
    """The device node is locked while open: a second gateway (or a leftover process of one) is refused with
    a message naming the port, and the port opens again once the first holder lets go."""
    bank = Bank(tmp_path / "bank", ports=1)
    bank.start()
    try:
        first = SerialTransport(bank.ports[0].path)
        with pytest.raises(PortOpenError, match="locked by another process"):
            SerialTransport(bank.ports[0].path)
        first.close()
        SerialTransport(bank.ports[0].path).close()
    finally:
        bank.stop()
