"""Wedged modems over real ptys: one that only its reset command brings back, one that needs a USB reset, one that
needs a power cycle of its hub port, and one that comes back under another tty name at the same USB location."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from hwsim import Bank
from hwsim.control import ControlError, request
from tests.hwsim.hwsimlib import FAST, AtPort, bank_port, ok

SENDER = "+79161234567"
TIMING = replace(FAST, reenumerate_s=0.1)
WAIT_S = 5.0


def silent(at: AtPort, line: str = "AT") -> bool:
    at.write(line.encode() + b"\r")
    try:
        at.until_final(timeout_s=0.3)
    except TimeoutError:
        return True
    return False


def reopened(path: str) -> AtPort:
    at = AtPort(path)
    at.quiet()
    return at


def test_wedged_until_reset_answers_only_the_reset_command(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        m.fault("wedge-until-reset")
        assert silent(at)
        assert silent(at, "AT+CGSN")
        m.sms(SENDER, "held while wedged")
        assert m.state()["storage"] == []  # the network holds it
        assert m.state()["faults"] == {"wedge": "reset"}
        assert at.cmd("AT+CFUN=1,1") == ["OK"]
        assert m.wait_until(lambda mm: len(mm.state()["storage"]) == 1, WAIT_S)  # restarted, then delivered
        assert m.state()["faults"] == {}
        at.quiet()
        assert at.cmd("AT") == ["OK"]


@pytest.mark.parametrize("profile", ["generic", "e173"])
def test_wedged_until_power_cycle_outlasts_reset_and_usb_reset(tmp_path: Path, profile: str) -> None:
    with Bank(tmp_path / "bank", ports=2, profiles=(profile,), timing=TIMING) as bank:
        m, other = bank.ports
        at = reopened(m.path)
        try:
            m.fault("wedge-until-power-cycle")
            assert silent(at, "AT+CFUN=1,1")
            location = request(bank.directory, {"cmd": "where", "path": m.path})["location"]
            assert location == m.location == "1-1.1"
            assert other.location == "1-1.2"
            request(bank.directory, {"cmd": "usb-reset", "location": location})
            assert m.wait_until(lambda mm: mm.state()["plugged"], WAIT_S)
            at.close()
            at = AtPort(m.path)
            assert silent(at)  # re-enumerated, still wedged
            request(bank.directory, {"cmd": "power-cycle", "location": location})
            assert m.wait_until(lambda mm: mm.state()["plugged"] and not mm.state()["faults"], WAIT_S)
            at.close()
            at = reopened(m.path)
            assert at.cmd("AT") == ["OK"]
        finally:
            at.close()


def test_wedged_until_usb_reset_renumbered_found_again_by_location(tmp_path: Path) -> None:
    with bank_port(tmp_path, timing=TIMING) as (bank, at):
        m = bank.ports[0]
        first = m.path
        m.fault("wedge-until-usb-reset")
        m.fault("renumber-on-reset")
        assert silent(at, "AT+CFUN=1,1")
        request(bank.directory, {"cmd": "usb-reset", "location": m.location})
        assert m.wait_until(lambda mm: mm.state()["plugged"], WAIT_S)
        assert not os.path.lexists(first)
        found = request(bank.directory, {"cmd": "locate", "location": m.location})
        assert found == {"paths": [f"{first}-r1"], "port": "port01"}
        again = reopened(found["paths"][0])
        try:
            assert ok(again.cmd("AT+CGSN")) == [m.imei]
        finally:
            again.close()
        with pytest.raises(ControlError, match="no modem of this bank"):
            request(bank.directory, {"cmd": "where", "path": first})
        with pytest.raises(ControlError, match="no modem at USB location"):
            request(bank.directory, {"cmd": "usb-reset", "location": "9-9.9"})
