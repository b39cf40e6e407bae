"""The generic driver against a scripted 27.007 modem on a pty: init, SIM PIN, events, storage."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from simhost_drivers.at import SimPinRequiredError
from simhost_drivers.modems import GenericDriver, RegistrationState, StoredPdu, open_driver
from simhost_drivers.modems.events import ConnectionLost
from tests.drivers.driverevents import Events
from tests.drivers.fakemodem import FakeModem, frame

WAIT_S = 5.0
IMEI = "861234567890123"
IMSI = "250991234567890"
PDU1 = "07919761989901F0040B919761123456F800001220111232452104D4F29C0E"
PDU2 = "07919761989901F0040B919761654321F800001220111232552104C8329BFD06"


def script_generic(modem: FakeModem) -> None:
    """A plain 27.007 modem that refuses AT+CCID, the first CNMI variant and AT+CVHU."""
    for command in ("ATE0 V1", "AT", "ATE0", "AT+CMEE=1", "AT+CMGF=0", "AT+CNMI=2,1,0,1,0", "AT+CLIP=1",
                    "AT+CRC=1", "AT+CREG=1", "AT+CMGD=1", "ATH", "AT+CNMA"):
        modem.on(command, "OK")
    modem.on("AT+CPIN?", "+CPIN: READY", "OK")
    modem.on("AT+CGMI", "Acme Wireless", "OK")
    modem.on("AT+CGMM", "X1", "OK")
    modem.on("AT+CGMR", "Revision: R1.2", "OK")
    modem.on("AT+CGSN", IMEI, "OK")
    modem.on("AT+CIMI", IMSI, "OK")
    modem.on("AT+CRSM=176,12258,0,0,10", '+CRSM: 144,0,"980710992143658709F1"', "OK")
    modem.on("AT+CREG?", "+CREG: 0,5", "OK")
    modem.on("AT+CPMS=?", '+CPMS: ("ME","SM"),("ME","SM"),("ME","SM")', "OK")
    modem.on('AT+CPMS="SM","SM","SM"', "+CPMS: 2,30,2,30,2,30", "OK")
    modem.on("AT+CPMS?", '+CPMS: "SM",2,30,"SM",2,30,"SM",2,30', "OK")
    modem.on("AT+CSQ", "+CSQ: 99,99", "OK")
    modem.on("AT+CMGL=4", "+CMGL: 1,1,,24", PDU1, "+CMGL: 2,0,,24", "+CMGL: 3,0,,25", PDU2, "OK")
    modem.on("AT+CMGR=1", "+CMGR: 1,,24", PDU1, "OK")
    modem.on("AT+CMGR=9", "+CMS ERROR: 321")
    modem.on("AT+CMGS=24", "+CMGS: 17", "OK", prompt=True)


@pytest.fixture
def modem() -> Iterator[FakeModem]:
    with FakeModem() as m:
        script_generic(m)
        yield m


@pytest.fixture
def driver(modem: FakeModem) -> Iterator[GenericDriver]:
    d = open_driver(modem.path, port_name="gen0")
    yield d
    d.close()


def test_probe_picks_generic_and_init_falls_back(modem: FakeModem, driver: GenericDriver) -> None:
    assert driver.name == "generic"
    info = driver.init()
    assert (info.manufacturer, info.model) == ("Acme Wireless", "X1")
    assert info.revision == "Revision: R1.2"
    assert (info.imei, info.imsi) == (IMEI, IMSI)
    assert info.iccid == "8970019912345678901"
    assert info.sim_state == "READY"
    assert info.registration is RegistrationState.ROAMING
    assert (info.storage, info.storage_used, info.storage_total) == ("SM", 2, 30)
    assert info.cnmi == "2,1,0,1,0"
    assert info.notes == ("AT+CVHU=0 refused: ERROR",)
    assert "AT+CNMI=2,1,0,2,0" in modem.commands
    order = [modem.commands.index(c) for c in ("ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CMGF=0")]
    assert order == sorted(order)


def test_sim_pin_is_raised_once(modem: FakeModem, driver: GenericDriver) -> None:
    modem.on("AT+CPIN?", "+CPIN: SIM PIN", "OK")
    with pytest.raises(SimPinRequiredError, match="PIN"):
        driver.init()
    assert modem.commands.count("AT+CPIN?") == 1


def test_storage_operations(modem: FakeModem, driver: GenericDriver) -> None:
    listed = driver.list_messages()
    # Entry 2 came without its PDU line: it is left on the SIM, not returned.
    assert listed == [StoredPdu(1, 1, PDU1), StoredPdu(3, 0, PDU2)]
    assert driver.read_message(1) == StoredPdu(1, 1, PDU1)
    assert driver.read_message(9) is None
    driver.delete_message(1)
    assert "AT+CMGD=1" in modem.commands
    assert driver.storage_status() == (2, 30)
    assert driver.signal_dbm() is None
    with pytest.raises(ValueError, match="stat"):
        driver.list_messages(7)


def test_send_pdu_returns_the_reference(modem: FakeModem, driver: GenericDriver) -> None:
    submit = "0011000B919761123456F80000AA0BC8329BFD065DDF72363904"
    assert driver.send_pdu(submit, 24) == 17
    assert modem.payloads == [submit]
    with pytest.raises(ValueError, match="tpdu_len"):
        driver.send_pdu(submit, 99)


def test_events(modem: FakeModem, driver: GenericDriver) -> None:
    events = Events(driver)
    modem.send(frame('+CMTI: "SM",4', "+CMT: ,24", PDU1, '+CDSI: "SM",5', "+CDS: 25", PDU2,
                     "RING", '+CLIP: "+79161234567",145,"",,"",0', "+CRING: VOICE",
                     '+CLIP: "",128,"",,"",1', "+CPIN: NOT READY", "RDY"))
    assert events.wait(10) == [
        ("new", ("SM", 4)),
        ("direct", PDU1),
        ("report", ("SM", 5)),
        ("report", PDU2),
        ("ring", None),
        ("clip", ("+79161234567", 145, 0)),
        ("ring", None),
        ("clip", ("", 128, 1)),
        ("sim", "+CPIN: NOT READY"),
        ("boot", "RDY"),
    ]


def test_hang_up_and_ack(modem: FakeModem, driver: GenericDriver) -> None:
    assert driver.hang_up() is True
    modem.on("AT+CNMA", "+CMS ERROR: 340")
    assert driver.ack_direct() is False
    driver.ping()
    assert modem.commands[-3:] == ["ATH", "AT+CNMA", "AT"]


def test_current_calls_and_refusal(modem: FakeModem, driver: GenericDriver) -> None:
    modem.on("AT+CLCC", '+CLCC: 1,1,4,0,0,"+79161234567",145', "OK")
    [entry] = driver.current_calls() or []
    assert (entry.incoming, entry.number, entry.number_type) == (True, "+79161234567", 145)
    modem.on("AT+CLCC", "OK")
    assert driver.current_calls() == []
    modem.on("AT+CLCC", "ERROR")
    assert driver.current_calls() is None


def test_connection_lost_reaches_the_receiver(modem: FakeModem, driver: GenericDriver) -> None:
    lost = threading.Event()
    driver.on_event = lambda event: lost.set() if isinstance(event, ConnectionLost) else None
    modem.unplug()
    assert lost.wait(WAIT_S)


def test_forgotten_notification_settings_are_noticed(modem: FakeModem, driver: GenericDriver) -> None:
    # it accepts 2,1,0,1,0 but reports its own normalisation: that is not taken for a restart
    modem.on("AT+CNMI?", "+CNMI: 2,1,0,0,0", "OK")
    driver.init()
    assert driver.notifications_lost() is False
    modem.on("AT+CNMI?", "+CNMI: 0,0,0,0,0", "OK")  # restarted without a word: settings back to defaults
    assert driver.notifications_lost() is True
    modem.on("AT+CNMI?", "ERROR")  # a modem that cannot say is left alone
    assert driver.notifications_lost() is False
