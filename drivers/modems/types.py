"""What drivers return and declare: ModemInfo, StoredPdu, registration states, Quirks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simhost_drivers.at.codes import FinalCode


class RegistrationState(StrEnum):
    """Network registration (AT+CREG <stat>), as words."""

    NOT_REGISTERED = "not-registered"
    HOME = "home"
    SEARCHING = "searching"
    DENIED = "denied"
    UNKNOWN = "unknown"
    ROAMING = "roaming"


@dataclass(frozen=True)
class StoredPdu:
    """One message in the modem's storage: its index, <stat> (0 unread .. 3 sent) and PDU hex.

    `pdu_hex` includes the SMSC address octets, as AT+CMGL/AT+CMGR return it in PDU mode.
    """

    index: int
    stat: int
    pdu_hex: str

    @property
    def pdu(self) -> str:
        """Alias of `pdu_hex`."""
        return self.pdu_hex


@dataclass(frozen=True)
class CallEntry:
    """One call in progress as AT+CLCC lists it (TS 27.007 §7.18).

    `direction` 0 mobile originated, 1 mobile terminated; `stat` 0 active, 1 held, 2 dialing, 3 alerting,
    4 incoming, 5 waiting; `number` is None when the modem gives none, "" when the caller withholds it.
    """

    index: int
    direction: int
    stat: int
    mode: int
    multiparty: bool
    number: str | None = None
    number_type: int | None = None

    @property
    def incoming(self) -> bool:
        """An incoming call not yet answered: ringing (4) or waiting (5)."""
        return self.direction == 1 and self.stat in (4, 5)


@dataclass(frozen=True)
class ModemInfo:
    """What init() found out; `notes` lists optional settings the modem refused."""

    driver: str
    manufacturer: str
    model: str
    revision: str | None
    imei: str | None
    imsi: str | None
    iccid: str | None
    sim_state: str
    registration: RegistrationState | None
    storage: str | None
    storage_used: int | None
    storage_total: int | None
    cnmi: str | None
    notes: tuple[str, ...] = ()
    msisdn: str | None = None  # from AT+CNUM; many SIMs do not carry their own number
    operator: str | None = None


@dataclass(frozen=True)
class IccidQuery:
    """A command that reads the ICCID; `prefix` is its answer's prefix, "" for a bare answer."""

    command: str
    prefix: str = ""


@dataclass(frozen=True)
class Quirks:
    """A modem family's declared differences from plain 27.005/27.007 behaviour."""

    hangup_command: str = "ATH"
    # 27.007 full functionality with a restart: the modem answers, then reboots.
    reset_command: str = "AT+CFUN=1,1"
    iccid_queries: tuple[IccidQuery, ...] = (IccidQuery("AT+CCID", "+CCID:"),)
    # Unsolicited lines that carry nothing we need (signal, mode and data-flow reports).
    noise_prefixes: tuple[str, ...] = ()
    extra_finals: tuple[FinalCode, ...] = ()
    # AT+CNMI parameters, tried in order: store and notify (+CMTI), status reports likewise.
    cnmi_variants: tuple[str, ...] = ("2,1,0,2,0", "2,1,0,1,0", "2,1,0,0,0", "1,1,0,0,0")
    cvhu: bool = True
    # Run right after echo-off and AT+CMEE=1; refusals are noted, not fatal.
    init_extras: tuple[str, ...] = ()
    storage_preference: tuple[str, ...] = ("SM", "ME", "MT")
    sim_prefixes: tuple[str, ...] = ("+CPIN:",)
    boot_lines: tuple[str, ...] = ("RDY",)
