"""USSD through every driver against its hwsim profile (plain text, packed 7-bit, UCS2; timeouts, cancels,
refusals), and the +CUSD decoding on its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank, Timing, VirtualModem
from simhost_drivers.modems import (
    GenericDriver,
    UssdAnswer,
    UssdNetworkError,
    UssdTimeoutError,
    UssdUnsupportedError,
    open_driver,
)
from simhost_drivers.modems.ussd import alphabet, decode_text, pack_code, parse_cusd, unpack_text
from tests.drivers.driverevents import Events

PROFILES = ("generic", "sim800", "ec25", "e173")
CYRILLIC = "Баланс: 123,45 р."
WAIT_S = 10.0
SHORT_S = 0.5  # how long a test lets an answer that will never come stay away


@dataclass
class Rig:
    modem: VirtualModem
    driver: GenericDriver
    events: Events

    def requests(self) -> list[dict[str, Any]]:
        return list(self.modem.state()["ussd"]["requests"])

    def sent(self, prefix: str) -> list[str]:
        return [e["data"].strip() for e in self.modem.state()["at_log"]
                if e["dir"] == "rx" and e["data"].strip().startswith(prefix)]


@pytest.fixture(params=PROFILES)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    timing = Timing(ussd_reply_s=0.05, noise_interval_s=0.05)
    with Bank(tmp_path / "bank", ports=1, profiles=(request.param,), timing=timing) as bank:
        modem = bank.ports[0]
        driver = open_driver(modem.path, port_name=modem.name)
        try:
            events = Events(driver)
            driver.init()
            yield Rig(modem, driver, events)
        finally:
            driver.close()


def test_latin_answer_decoded_on_each_family(rig: Rig) -> None:
    answer = rig.driver.ussd("*100#", WAIT_S)
    assert answer == UssdAnswer(0, "Balance: 100.00 RUB", 15, answer.raw)
    packed = rig.modem.profile == "e173"
    # the Huawei is spoken to and answers in packed septets; the others in text
    assert rig.requests()[-1]["raw"] == ("AA180C3602" if packed else "*100#")
    assert (answer.raw != answer.text) == packed
    if packed:
        assert rig.sent('AT+CSCS="GSM"')


def test_cyrillic_answer_decoded_from_ucs2(rig: Rig) -> None:
    rig.modem.ussd(CYRILLIC, code="*100#")
    answer = rig.driver.ussd("*100#", WAIT_S)
    assert answer.text == CYRILLIC
    assert answer.dcs == 72
    assert answer.raw == CYRILLIC.encode("utf-16-be").hex().upper()


def test_no_answer_times_out_and_cancels_the_session(rig: Rig) -> None:
    rig.modem.fault("ussd", "no-answer")
    with pytest.raises(UssdTimeoutError, match=r"within 0\.5 s; the session was cancelled"):
        rig.driver.ussd("*100#", SHORT_S)
    assert rig.sent("AT+CUSD=2")
    assert rig.modem.state()["ussd"]["open"] is False
    rig.modem.fault("clear")
    assert rig.driver.ussd("*100#", WAIT_S).text == "Balance: 100.00 RUB"


def test_a_session_left_open_is_cancelled_before_the_next_request(rig: Rig) -> None:
    rig.modem.fault("ussd", "no-answer")
    rig.driver.ussd_start("*100#")  # its answer never comes, nobody cancels it
    rig.modem.fault("clear")
    assert rig.driver.ussd("*102#", WAIT_S).text == "Balance: 100.00 RUB"
    assert [r["code"] for r in rig.requests()] == ["*100#", "*102#"]


def test_cme_error_is_a_network_error(rig: Rig) -> None:
    rig.modem.fault("ussd", "error")
    with pytest.raises(UssdNetworkError, match="the modem refused the request: "):
        rig.driver.ussd("*100#", WAIT_S)


def test_network_cancel_and_not_supported(rig: Rig) -> None:
    rig.modem.fault("ussd", "cancel")
    with pytest.raises(UssdNetworkError, match=r"ended the session without an answer \(\+CUSD: 2\)"):
        rig.driver.ussd("*100#", WAIT_S)
    rig.modem.fault("ussd", "unsupported")
    with pytest.raises(UssdUnsupportedError, match=r"\+CUSD: 4"):
        rig.driver.ussd("*100#", WAIT_S)


def test_the_answer_comes_as_an_event_while_the_line_is_free(rig: Rig) -> None:
    rig.modem.ussd("Balance 7.00", code="*100#", delay_s=0.3)
    rig.driver.ussd_start("*100#")
    assert rig.driver.registration().registered  # the line serves other commands meanwhile
    rig.events.wait_for(lambda seen: any(kind == "ussd" for kind, _ in seen))
    assert [a.text for a in rig.events.of("ussd")] == ["Balance 7.00"]


def test_a_code_that_could_break_the_command_line_is_refused_unsent(rig: Rig) -> None:
    before = len(rig.requests())
    for code in ('*100#";ATD+7900;', "*100#\r", "", "1" * 33, "*100#A"):
        with pytest.raises(ValueError, match="USSD code"):
            rig.driver.ussd(code, WAIT_S)
    assert len(rig.requests()) == before
    assert not rig.sent("ATD")


# ---- decoding on its own -----------------------------------------------------------------------------------


def test_packing_matches_what_huawei_users_send() -> None:
    assert pack_code("*100#") == "AA180C3602"
    assert pack_code("*144#") == "AA188D3602"  # mybroadband.co.za's E-series trace
    assert pack_code("*141*1#") == "AA182DA68A8D1A"  # and a modem log's
    assert unpack_text(pack_code("*101*4#")) == "*101*4#"  # 7 characters: CR padding, no trailing '@'


@pytest.mark.parametrize(("dcs", "kind"), [
    (None, "gsm7"), (0, "gsm7"), (15, "gsm7"), (1, "gsm7"), (0x10, "gsm7"), (0x11, "ucs2"), (0x44, "8bit"),
    (72, "ucs2"), (0x40, "gsm7"), (0xF4, "8bit"), (0xF0, "gsm7"), (0x98, "ucs2"),
])
def test_alphabet_by_dcs(dcs: int | None, kind: str) -> None:
    assert alphabet(dcs) == kind


def test_decoding_by_dcs_and_by_whether_the_string_is_hex() -> None:
    ucs2 = CYRILLIC.encode("utf-16-be").hex()
    assert decode_text(ucs2, 72, packed=False) == CYRILLIC
    assert decode_text(CYRILLIC, 72, packed=False) == CYRILLIC  # a modem that converted it already
    assert decode_text("C2303BEC1E971B", 15, packed=True) == "Balance"
    assert decode_text("1234", 15, packed=False) == "1234"  # plain digits are text on a text family
    assert decode_text("48656C6C6F", 0x44, packed=False) == "Hello"
    assert decode_text("0052005500D0041F", 0x11, packed=False) == "\u00d0\u041f"  # language "RU" first


def test_cusd_lines() -> None:
    assert parse_cusd(' 0,"Balance: 1,50 RUB, \\"bonus\\" 2",15', packed=False) == UssdAnswer(
        0, 'Balance: 1,50 RUB, \\"bonus\\" 2', 15, 'Balance: 1,50 RUB, \\"bonus\\" 2')
    assert parse_cusd(" 2", packed=False) == UssdAnswer(2)
    assert parse_cusd(' 1,"Menu",15', packed=False).checked().status == 1
    assert parse_cusd(' 2,"Bye 5.00",15', packed=False).checked().text == "Bye 5.00"
    assert parse_cusd(' 0,"cut at a line break', packed=False).text == "cut at a line break"
    with pytest.raises(UssdNetworkError, match="unreadable"):
        parse_cusd(" x", packed=False).checked()
    with pytest.raises(UssdNetworkError, match=r"\+CUSD: 5"):
        parse_cusd(" 5", packed=False).checked()
