"""Registry input checks: MSISDNs, ICCIDs (length and Luhn), logins, kinds, sender names, ISO 8601 times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simhost.registry import validate
from simhost.registry.validate import ValidationError


def make_iccid(n: int, digits: int = 20) -> str:
    body = f"8970199{n:0{digits - 8}d}"
    return body + validate.luhn_check_digit(body)


@pytest.mark.parametrize("given", ["+79161234567", "89161234567", "8 (916) 123-45-67", "+7 916 123 45 67",
                                   "9161234567"])
def test_msisdn_forms_become_e164(given: str) -> None:
    assert validate.msisdn(given, "RU") == "+79161234567"


@pytest.mark.parametrize("given", ["ACME", "1-800-FLOWERS", "", "+7916", "12"])
def test_msisdn_rejects_what_is_not_a_phone_number(given: str) -> None:
    with pytest.raises(ValidationError, match="is not a phone number"):
        validate.msisdn(given, "RU")


def test_iccid_lengths_luhn_and_padding() -> None:
    twenty, nineteen = make_iccid(1), make_iccid(2, digits=19)
    assert validate.iccid(twenty) == twenty
    assert validate.iccid(nineteen) == nineteen
    assert validate.iccid(f"{twenty[:10]} {twenty[10:]}") == twenty
    assert validate.iccid(twenty + "F") == twenty  # BCD padding as some modems print it
    wrong = twenty[:-1] + str((int(twenty[-1]) + 1) % 10)
    with pytest.raises(ValidationError, match=f"fails the Luhn check .*would be {twenty[-1]}"):
        validate.iccid(wrong)
    with pytest.raises(ValidationError, match="it has 18 digits, an ICCID has 19 or 20"):
        validate.iccid(twenty[:18])
    with pytest.raises(ValidationError, match="only digits"):
        validate.iccid("8970ABC")


def test_luhn_matches_a_known_card_number() -> None:
    assert validate.luhn_ok("79927398713")
    assert not validate.luhn_ok("79927398710")
    assert validate.luhn_check_digit("7992739871") == "3"


def test_iccid_and_msisdn_are_told_apart() -> None:
    assert validate.looks_like_iccid(make_iccid(3))
    assert not validate.looks_like_iccid("89161234567")
    assert not validate.looks_like_iccid("+79161234567")


def test_login_kind_and_sender_name() -> None:
    assert validate.login(" Acme.Ltd_1 ") == "acme.ltd_1"
    for bad in ("a", "x" * 33, "acme corp", "acme/1", "acmé"):
        with pytest.raises(ValidationError, match=r"is not valid|is too long: 33 characters, at most 32"):
            validate.login(bad)
    assert validate.kind("Hosted-Company") == "hosted-company"
    with pytest.raises(ValidationError, match="is not one of shared, virtual, hosted-company, hosted-client"):
        validate.kind("dedicated")
    assert validate.sender_name(" Sberbank ") == "Sberbank"
    assert validate.sender_key("SberBank") == "sberbank"
    with pytest.raises(ValidationError, match="at most 11"):
        validate.sender_name("VeryLongSenderName")
    with pytest.raises(ValidationError, match="empty"):
        validate.sender_name("  ")


def test_parse_time_gives_utc() -> None:
    assert validate.parse_time("2026-01-31T18:05:00+03:00") == datetime(2026, 1, 31, 15, 5, tzinfo=UTC)
    assert validate.parse_time("2026-01-31T15:05:00Z") == datetime(2026, 1, 31, 15, 5, tzinfo=UTC)
    assert validate.parse_time("2026-01-31") == datetime(2026, 1, 31, tzinfo=UTC)
    with pytest.raises(ValidationError, match="not an ISO 8601 time"):
        validate.parse_time("yesterday")
