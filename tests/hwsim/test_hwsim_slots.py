"""SIM slots and identities: per-slot storage and ICCID, each family's SIM-swap reports, deterministic seeds."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from hwsim import Bank
from hwsim.identity import IdentityFactory, luhn_check_digit, luhn_valid
from tests.hwsim.hwsimlib import FAST, bank_port, ok

SENDER = "+79161234567"

SWAP_REPORTS = {
    "generic": ([], []),
    "sim800": (["+CPIN: NOT READY"], ["+CPIN: READY", "Call Ready", "SMS Ready"]),
    "ec25": (["+CPIN: NOT READY"], ["+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE"]),
    "e173": (["^SIMST:255", "^SRVST:0"], ["^SIMST:1", "^SRVST:2", "^MODE:5,4"]),
}


@pytest.mark.parametrize("profile", list(SWAP_REPORTS))
def test_slot_switch_reports_and_per_slot_sim(tmp_path: Path, profile: str) -> None:
    with bank_port(tmp_path, profile=profile, slots=2) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT^CURC=0" if profile == "e173" else "AT"))
        ok(at.cmd("AT+CREG=1"))
        ok(at.cmd('AT+CPMS="SM","SM","SM"'))  # the ec25 stores in "ME" out of the box
        slots = bank.info["ports"][0]["slots"]
        m.sms(SENDER, "for slot 1")
        m.slot(2)
        gone, back = SWAP_REPORTS[profile]
        expected = [*gone, "+CREG: 0", *back, "+CREG: 1"]
        got = [at.wait_line(".") for _ in expected]
        assert got == expected
        assert ok(at.cmd("AT+CIMI")) == [slots[1]["imsi"]]
        assert m.state()["iccid"] == slots[1]["iccid"]
        assert m.state()["active_slot"] == 2
        # slot 2 has its own (empty) storage; slot 1's message is still on its SIM
        assert ok(at.cmd("AT+CPMS?"))[0].startswith('+CPMS: "SM",0,20')
        m.slot(1)
        assert m.wait_until(lambda mm: mm.state()["active_slot"] == 1 and mm.state()["sim_present"], 5)
        assert len(m.state()["storage"]) == 1


def test_sim_absent_during_the_swap(tmp_path: Path) -> None:
    with bank_port(tmp_path, profile="sim800", slots=2, timing=replace(FAST, sim_swap_s=2.0)) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CMEE=1"))
        m.slot(2)
        # the swap takes Timing.sim_swap_s; during it the SIM is out
        assert at.wait_line("CPIN") == "+CPIN: NOT READY"
        assert at.cmd("AT+CPIN?") == ["+CME ERROR: 10"]
        assert at.cmd("AT+CPMS?") == ["+CMS ERROR: 310"]
        pdu = m.sms(SENDER, "during the swap")[0]
        at.wait_line("SMS Ready")
        assert m.wait_until(lambda mm: [s["pdu"] for s in mm.state()["storage"]] == [pdu], 5)
        assert ok(at.cmd("AT+CPIN?")) == ["+CPIN: READY"]


def test_bad_slot_is_a_clear_error(tmp_path: Path) -> None:
    with bank_port(tmp_path, slots=2) as (bank, _at):
        with pytest.raises(ValueError, match="slot 3 does not exist"):
            bank.ports[0].slot(3)
        with pytest.raises(KeyError, match="no port 'port07'"):
            bank.port("port07")


def test_luhn() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert luhn_valid("356938035643809")  # an IMEI from a real log
    with pytest.raises(ValueError, match="decimal digits"):
        luhn_check_digit("12a")


def test_identities_are_valid_unique_and_seeded() -> None:
    def make(seed: int) -> list[tuple[str, str, str, str]]:
        f = IdentityFactory(seed)
        out = []
        for _ in range(50):
            imei = f.imei("35693803")
            s = f.sim(1)
            out.append((imei, s.iccid, s.imsi, s.msisdn))
        return out

    a, b, c = make(1), make(1), make(2)
    assert a == b
    assert a != c
    for imei, iccid, imsi, msisdn in a:
        assert luhn_valid(imei)
        assert len(imei) == 15
        assert luhn_valid(iccid)
        assert len(iccid) == 20
        assert iccid.startswith("89")
        assert re.fullmatch(r"25001\d{10}", imsi)
        assert re.fullmatch(r"\+7900\d{7}", msisdn)
    for column in range(4):
        assert len({row[column] for row in a}) == len(a)


def test_bank_info_follows_the_seed_and_cycles_profiles(tmp_path: Path) -> None:
    infos = []
    for run in range(2):
        with Bank(tmp_path / f"b{run}", ports=3, profiles=("generic", "sim800"), slots=2, seed=42) as bank:
            infos.append(bank.info)
    strip = [[{k: v for k, v in p.items() if k != "path"} for p in i["ports"]] for i in infos]
    assert strip[0] == strip[1]
    assert [p["profile"] for p in infos[0]["ports"]] == ["generic", "sim800", "generic"]
    assert [p["name"] for p in infos[0]["ports"]] == ["port01", "port02", "port03"]
    assert all(len(p["slots"]) == 2 and p["active_slot"] == 1 for p in infos[0]["ports"])


def test_bank_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown profile 'nokia'"):
        Bank(tmp_path, profiles=("nokia",))
    with pytest.raises(ValueError, match="ports"):
        Bank(tmp_path, ports=0)
    with pytest.raises(ValueError, match="baud"):
        Bank(tmp_path, baud=0)


def test_stop_removes_files_and_is_idempotent(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank", ports=2)
    bank.start()
    assert {p.name for p in (tmp_path / "bank").iterdir()} == {"port01", "port02", "control.sock"}
    bank.stop()
    bank.stop()
    assert list((tmp_path / "bank").iterdir()) == []


def test_the_network_holds_an_sms_for_a_sim_out_of_its_slot_until_the_slot_is_online(tmp_path: Path) -> None:
    with bank_port(tmp_path, slots=3) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CNMI=2,1,0,0,0"))
        pdu = m.sms(SENDER, "for the SIM in slot 3", slot=3)[0]
        assert m.state()["network_queue"]["3"] == [pdu]
        assert m.state()["storage"] == []
        m.slot(3)
        at.wait_line(r'^\+CMTI: "SM",1$')
        state = m.state()
        assert [s["pdu"] for s in state["storage"]] == [pdu]
        assert state["network_queue"]["3"] == []


def test_the_network_drops_what_a_sim_out_of_its_slot_did_not_take_within_the_validity_period(
        tmp_path: Path) -> None:
    with bank_port(tmp_path, slots=2, timing=replace(FAST, sms_validity_s=0.2)) as (bank, _at):
        m = bank.ports[0]
        m.sms(SENDER, "never picked up", slot=2)
        assert m.wait_until(lambda mm: mm.state()["network_expired"] == {"2": 1}, 5)
        assert m.state()["network_queue"]["2"] == []
        m.slot(2)
        assert m.wait_until(lambda mm: mm.state()["active_slot"] == 2 and mm.state()["sim_present"], 5)
        assert m.state()["storage"] == []


def test_a_denied_sim_never_registers_in_its_slot(tmp_path: Path) -> None:
    with bank_port(tmp_path, slots=2) as (bank, at):
        m = bank.ports[0]
        ok(at.cmd("AT+CREG=1"))
        m.fault("denied", "2")
        m.slot(2)
        at.wait_line(r"^\+CREG: 3$")
        assert ok(at.cmd("AT+CREG?")) == ["+CREG: 1,3"]
        m.sms(SENDER, "held: the SIM is not registered")
        assert m.state()["storage"] == []
        m.slot(1)
        at.wait_line(r"^\+CREG: 1$")
        m.fault("clear")
        m.slot(2)
        assert m.wait_until(lambda mm: mm.state()["active_slot"] == 2 and mm.state()["registration"] == 1
                            and len(mm.state()["storage"]) == 1, 5)
