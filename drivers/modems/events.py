"""What a modem driver reports, as typed events sent to one receiver: messages, calls, registration, SIM, link."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from simhost_drivers.modems.ussd import UssdAnswer


class RegistrationState(StrEnum):
    """Network registration (a +CREG/+CEREG <stat>), as words."""

    NOT_REGISTERED = "not-registered"
    HOME = "home"
    SEARCHING = "searching"
    DENIED = "denied"
    UNKNOWN = "unknown"
    ROAMING = "roaming"

    @property
    def registered(self) -> bool:
        """Whether the modem can receive SMS: registered at home or roaming (SMS-only registrations included)."""
        return self in (RegistrationState.HOME, RegistrationState.ROAMING)


def _monotonic() -> float:
    return time.monotonic()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewMessage:
    """`+CMTI`: a message was stored in `memory` at `index`; `at` (monotonic) is when the line was read."""

    memory: str
    index: int
    at: float = field(default_factory=_monotonic, compare=False)


@dataclass(frozen=True)
class DirectMessage:
    """`+CMT`: a message routed to the terminal, not stored; it waits for an acknowledgement (AT+CNMA). `at`
    (monotonic) is when the line was read."""

    pdu: str
    at: float = field(default_factory=_monotonic, compare=False)


@dataclass(frozen=True)
class StoredReport:
    """`+CDSI`: a status report was stored in `memory` at `index`."""

    memory: str
    index: int


@dataclass(frozen=True)
class DirectReport:
    """`+CDS`: a status report routed to the terminal; it waits for an acknowledgement (AT+CNMA)."""

    pdu: str


@dataclass(frozen=True)
class Ring:
    """`RING`/`+CRING`: an incoming call rings; `at` (monotonic) and `wall` are taken when the line was read."""

    at: float = field(default_factory=_monotonic)
    wall: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class CallerId:
    """`+CLIP`: the ringing call's number ("" when withheld), its type of address and CLI validity."""

    number: str
    number_type: int | None
    validity: int | None
    at: float = field(default_factory=_monotonic)
    wall: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class CallEnded:
    """`NO CARRIER` outside a dial or answer command: a call ended."""

    at: float = field(default_factory=_monotonic)


@dataclass(frozen=True)
class Registration:
    """A `+CREG`/`+CEREG` report of the network registration."""

    state: RegistrationState


@dataclass(frozen=True)
class SimChanged:
    """The modem reported the SIM's state changing (removed, inserted, not ready): `line` as it came."""

    line: str


@dataclass(frozen=True)
class Booted:
    """The modem's boot banner (`RDY` ...): it restarted, and forgot its settings."""

    line: str


@dataclass(frozen=True)
class UssdReply:
    """`+CUSD`: the network's answer to a USSD request (or its refusal), decoded; `at` (monotonic) when read."""

    answer: UssdAnswer
    at: float = field(default_factory=_monotonic, compare=False)


@dataclass(frozen=True)
class ConnectionLost:
    """The serial link is gone (the device vanished or failed)."""

    error: Exception


ModemEvent = (NewMessage | DirectMessage | StoredReport | DirectReport | Ring | CallerId | CallEnded
              | Registration | SimChanged | Booted | UssdReply | ConnectionLost)
EventSink = Callable[[ModemEvent], None]


def ignore(_event: ModemEvent) -> None:
    """The receiver until one is set: events before that are dropped."""
