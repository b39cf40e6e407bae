"""Checks and normalisation of what field engineers type: logins, MSISDNs, ICCIDs, kinds, sender names, times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from simhost.gateway.numbers import to_e164
from simhost.inputs import LOGIN_MAX, SENDER_NAME_MAX, InputError, bounded, shown
from simhost.router.directory import NUMBER_KINDS

LOGIN_RE = re.compile(rf"^[a-z0-9._-]{{2,{LOGIN_MAX}}}$")
PHONE_CHARS_RE = re.compile(r"^\+?[0-9][0-9 ().-]*$")
ICCID_LENGTHS = (19, 20)
SEND_SOURCES = ("mqtt", "cli", "port")


# Input the registry cannot accept: the one error class of every input check, under the registry's name.
ValidationError = InputError


def login(value: str) -> str:
    """A customer login, lowercased: 2-32 of a-z, 0-9, '.', '_' and '-' (it becomes an MQTT topic level)."""
    text = bounded(value.strip(), LOGIN_MAX, "login").lower()
    if not LOGIN_RE.match(text):
        raise ValidationError(
            f"login {shown(value)} is not valid: use 2-{LOGIN_MAX} characters from a-z, 0-9, '.', '_' and '-'"
        )
    return text


def msisdn(value: str, region: str) -> str:
    """`value` as an E.164 MSISDN (`+79161234567`), read with `region` when it has no country code."""
    text = value.strip()
    e164 = to_e164(text, region) if PHONE_CHARS_RE.match(text) else None
    if e164 is None:
        raise ValidationError(
            f"{shown(value)} is not a phone number: give it as +79161234567 or in a form region "
            f"{shown(region, 8)} reads"
        )
    return e164


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body + digit` pass the Luhn check."""
    return next(str(d) for d in range(10) if luhn_ok(body + str(d)))


def iccid(value: str) -> str:
    """An ICCID as its digits: 19 or 20 of them, the last one the Luhn check digit (ITU-T E.118)."""
    text = re.sub(r"[\s-]", "", value)
    if len(text) in (20, 21) and text[-1] in "fF":  # BCD padding as some modems print it
        text = text[:-1]
    if not text.isdigit():
        raise ValidationError(f"ICCID {shown(value)} is not valid: an ICCID has only digits")
    if len(text) not in ICCID_LENGTHS:
        raise ValidationError(f"ICCID {shown(value)} is not valid: it has {len(text)} digits, an ICCID has 19 or 20")
    if not luhn_ok(text):
        raise ValidationError(
            f"ICCID {shown(value)} is not valid: its last digit fails the Luhn check "
            f"(with these first {len(text) - 1} digits it would be {luhn_check_digit(text[:-1])}); "
            "check for a mistyped digit"
        )
    return text


def looks_like_iccid(value: str) -> bool:
    """Whether NUMBER on the command line names a SIM by ICCID (longer than any E.164 number) rather than MSISDN."""
    text = re.sub(r"[\s-]", "", value).rstrip("fF")
    return text.isdigit() and len(text) > 15


def kind(value: str) -> str:
    text = value.strip().lower()
    if text not in NUMBER_KINDS:
        raise ValidationError(f"kind {shown(value)} is not one of {', '.join(NUMBER_KINDS)}")
    return text


def sender_name(value: str) -> str:
    """An alphanumeric sender name as a whitelist keeps it (case is kept; matching ignores it)."""
    text = value.strip()
    if not text:
        raise ValidationError("the sender name is empty")
    return bounded(text, SENDER_NAME_MAX, "sender name")


def sender_key(name: str) -> str:
    """The form whitelists are matched on: case-folded."""
    return name.strip().casefold()


def source(value: str) -> str:
    if value not in SEND_SOURCES:
        raise ValidationError(f"send source {shown(value)} is not one of {', '.join(SEND_SOURCES)}")
    return value


def parse_time(value: str) -> datetime:
    """An ISO 8601 time as a UTC datetime; a time without an offset is taken as UTC."""
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            f"{shown(value)} is not an ISO 8601 time (e.g. 2026-01-31T18:05:00+03:00 or 2026-01-31)"
        ) from None
    return as_utc(t)


def as_utc(t: datetime) -> datetime:
    """`t` in UTC; naive datetimes (SQLite hands them back so) are UTC already."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
