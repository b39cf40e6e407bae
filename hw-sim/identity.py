"""Deterministic identities for virtual modems and SIMs: IMEI, ICCID, IMSI, MSISDN (Luhn where the format has it)."""

from __future__ import annotations

import random
from dataclasses import dataclass

# A Russian operator's identities: ICCID issuer 89 7 01, IMSI MCC 250 / MNC 01.
ICCID_PREFIX = "8970101"
ICCID_DIGITS = 19  # without the Luhn check digit
IMSI_PREFIX = "25001"
IMSI_DIGITS = 15
MSISDN_PREFIX = "+7900"
MSISDN_SUBSCRIBER_DIGITS = 7
IMEI_SERIAL_DIGITS = 6


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits`."""
    if not digits.isdigit():
        raise ValueError(f"Luhn needs decimal digits, got {digits!r}")
    total = 0
    # Double every second digit counting from the right of the payload (the check digit comes after).
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """Whether `number` (check digit last) passes the Luhn check."""
    return len(number) > 1 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


@dataclass(frozen=True)
class SimIdentity:
    """One SIM card: its slot (1-based), ICCID, IMSI and MSISDN."""

    slot: int
    iccid: str
    imsi: str
    msisdn: str

    def to_json(self) -> dict[str, object]:
        return {"slot": self.slot, "iccid": self.iccid, "imsi": self.imsi, "msisdn": self.msisdn}


class IdentityFactory:
    """Hands out unique identities, the same ones for the same seed and call order."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"hwsim-identities:{seed}")
        self._used: set[str] = set()

    def _unique(self, make: object) -> str:
        assert callable(make)
        while True:
            value = str(make())
            if value not in self._used:
                self._used.add(value)
                return value

    def _digits(self, n: int) -> str:
        return "".join(str(self._rng.randrange(10)) for _ in range(n))

    def imei(self, tac: str) -> str:
        """A 15-digit IMEI: the 8-digit type allocation code, a serial number, the Luhn digit."""
        if len(tac) != 8 or not tac.isdigit():
            raise ValueError(f"a TAC has 8 digits, got {tac!r}")

        def make() -> str:
            body = tac + self._digits(IMEI_SERIAL_DIGITS)
            return body + luhn_check_digit(body)
        return self._unique(make)

    def sim(self, slot: int) -> SimIdentity:
        def iccid() -> str:
            body = ICCID_PREFIX + self._digits(ICCID_DIGITS - len(ICCID_PREFIX))
            return body + luhn_check_digit(body)

        def imsi() -> str:
            return IMSI_PREFIX + self._digits(IMSI_DIGITS - len(IMSI_PREFIX))

        def msisdn() -> str:
            return MSISDN_PREFIX + self._digits(MSISDN_SUBSCRIBER_DIGITS)

        return SimIdentity(slot=slot, iccid=self._unique(iccid), imsi=self._unique(imsi),
                           msisdn=self._unique(msisdn))
