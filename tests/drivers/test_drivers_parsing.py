"""Pure tests of the answer parsers and of the +CME/+CMS table lookup."""

from __future__ import annotations

import pytest

from simhost_drivers.at import (
    CommandError,
    NotSupportedError,
    ResponseError,
    SimBusyError,
    SimPinRequiredError,
    SmsRejectedError,
)
from simhost_drivers.at.codes import COMMAND_NOT_SUPPORT, error_for_final
from simhost_drivers.modems import RegistrationState, StoredPdu
from simhost_drivers.modems import parsing as p
from simhost_drivers.modems.registry import UnknownDriverError, choose_driver, driver_class

ICCID = "8970199123456789012"
ICCID_SWAPPED = "980710992143658709F1"  # EF_ICCID as AT+CRSM reads it: nibbles swapped, F padding


def test_split_fields_keeps_commas_inside_quotes() -> None:
    assert p.split_fields('"+7916",145,"a,b",,"",0') == ["+7916", "145", "a,b", "", "", "0"]


@pytest.mark.parametrize(("value", "dbm"),
                         [("0,0", -113), ("15,99", -83), ("31,0", -51), ("99,99", None)])
def test_csq_dbm(value: str, dbm: int | None) -> None:
    assert p.csq_dbm(value) == dbm


def test_csq_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(ResponseError, match="out of range"):
        p.csq_dbm("40,0")


@pytest.mark.parametrize(("value", "state"), [
    ("0,1", RegistrationState.HOME), ("2,5,\"1A2B\",\"00C3\"", RegistrationState.ROAMING),
    ("0,2", RegistrationState.SEARCHING), ("0,3", RegistrationState.DENIED),
    ("0,0", RegistrationState.NOT_REGISTERED), ("0,9", RegistrationState.UNKNOWN),
])
def test_creg_state(value: str, state: RegistrationState) -> None:
    assert p.creg_state(value) == state
    assert str(state) == state.value


def test_cpms_forms() -> None:
    assert p.cpms_options('("SM","ME"),("SM","ME"),("SM")') == [["SM", "ME"], ["SM", "ME"], ["SM"]]
    assert p.cpms_usage("3,30,3,30,3,30") == (3, 30)
    assert p.cpms_usage('"SM",4,50,"SM",4,50,"SM",4,50') == (4, 50)
    assert p.cpms_memory('"ME",4,50,"ME",4,50,"ME",4,50') == "ME"


def test_cmgl_and_cmgr_entries() -> None:
    assert p.cmgl_entry(" 3,1,,24", "07abcd") == StoredPdu(3, 1, "07ABCD")
    assert p.cmgl_entry(' 4,"REC UNREAD",,24', "00") == StoredPdu(4, 0, "00")
    assert p.cmgr_entry(5, " 0,,24", "0011") == StoredPdu(5, 0, "0011")
    assert p.cmgr_entry(5, " 0,,0", None) is None
    with pytest.raises(ResponseError, match="no PDU"):
        p.cmgl_entry(" 3,1,,24", None)
    with pytest.raises(ResponseError, match="not a PDU"):
        p.cmgr_entry(5, " 0,,24", "XYZ")


def test_stored_pdu_has_both_names() -> None:
    stored = StoredPdu(1, 0, "0011")
    assert stored.pdu == stored.pdu_hex == "0011"


def test_memory_index_tolerates_extra_fields() -> None:
    assert p.memory_index(' "SM",7', "+CMTI") == ("SM", 7)
    assert p.memory_index(' "SM",7,"SMS"', "+CMTI") == ("SM", 7)
    with pytest.raises(ResponseError):
        p.memory_index(' "SM"', "+CMTI")


def test_clip_fields() -> None:
    assert p.clip_fields(' "+79161234567",145,"",,"",0') == ("+79161234567", 145, 0)
    assert p.clip_fields(' "",128,"",,"",1') == ("", 128, 1)
    assert p.clip_fields(' "79161234567",129') == ("79161234567", 129, None)


def test_clcc_entry() -> None:
    ringing = p.clcc_entry(' 1,1,4,0,0,"+79161234567",145')
    assert (ringing.index, ringing.number, ringing.number_type, ringing.incoming) == (1, "+79161234567", 145, True)
    assert p.clcc_entry('2,1,5,0,0,"",128').incoming  # waiting, withheld
    assert p.clcc_entry("1,1,4,0,0").number is None
    assert not p.clcc_entry('1,0,2,0,0,"112",129').incoming  # one we dial
    assert not p.clcc_entry('1,1,0,0,0,"+79161234567",145').incoming  # answered
    with pytest.raises(ResponseError):
        p.clcc_entry("1,1,4")


def test_iccid_forms() -> None:
    assert p.iccid_from(ICCID) == ICCID
    assert p.iccid_from(f'"{ICCID}F"') == ICCID
    assert p.iccid_from(ICCID_SWAPPED) == "8970019912345678901"
    assert p.iccid_from("ERROR") is None
    assert p.iccid_from("1234") is None
    assert p.crsm_iccid(f'144,0,"{ICCID_SWAPPED}"') == "8970019912345678901"
    assert p.crsm_iccid('148,4,""') is None


def test_error_table_lookup() -> None:
    assert isinstance(error_for_final("AT+CPIN?", "+CME ERROR: 11"), SimPinRequiredError)
    busy = error_for_final("AT+CPIN?", "+CME ERROR: SIM busy")
    assert isinstance(busy, SimBusyError)
    assert busy.code == 14
    assert isinstance(error_for_final("AT+CMGS=20", "+CMS ERROR: 38"), SmsRejectedError)
    assert isinstance(error_for_final("AT^X", "COMMAND NOT SUPPORT", COMMAND_NOT_SUPPORT),
                      NotSupportedError)
    plain = error_for_final("AT+X", "+CME ERROR: weird text")
    assert type(plain) is CommandError
    assert plain.code is None
    assert "weird text" in str(plain)


def test_unknown_driver_name_is_one_line() -> None:
    with pytest.raises(UnknownDriverError) as caught:
        driver_class("nokia")
    message = str(caught.value)
    assert "\n" not in message
    assert "generic, huawei, quectel, simcom" in message


@pytest.mark.parametrize(("manufacturer", "model", "name"), [
    ("SIMCOM_Ltd", "SIMCOM_SIM800L", "simcom"),
    ("", "SIM800 R14.18", "simcom"),
    ("Quectel", "EC25", "quectel"),
    ("huawei", "E173", "huawei"),
    ("Acme Wireless", "X1", "generic"),
])
def test_choose_driver(manufacturer: str, model: str, name: str) -> None:
    assert choose_driver(manufacturer, model).name == name


def test_first_text_skips_unclaimed_reports() -> None:
    assert p.first_text(("^RSSI: 17", "huawei"), "+CGMI:") == "huawei"
    assert p.first_text(("+CGMI: Quectel",), "+CGMI:") == "Quectel"
