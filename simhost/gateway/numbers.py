"""Sender and receiving-number normalisation: E.164 with a default region, sender types of ARCHITECTURE §3."""

from __future__ import annotations

import phonenumbers

SHORT_CODE_MAX_DIGITS = 6
WITHHELD = "withheld"


def to_e164(number: str, region: str) -> str | None:
    """`number` in E.164 (`+79161234567`), or None if it does not parse as a phone number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def classify_sender(address: str | None, toa_type: str | None, region: str) -> tuple[str, str]:
    """(sender, sender_type) for a routed message from the decoder's address and type-of-number name."""
    if not address:
        return WITHHELD, WITHHELD
    if toa_type == "alphanumeric":
        return address, "alphanumeric"
    digits = address.lstrip("+")
    if toa_type == "international" or address.startswith("+"):
        return "+" + digits, "international"
    if digits.isdigit() and len(digits) <= SHORT_CODE_MAX_DIGITS:
        return digits, "short"
    e164 = to_e164(digits, region) if digits.isdigit() else None
    if e164 is None:
        return address, "national"
    return e164, "national"
