"""What drivers return and declare (ModemInfo, StoredPdu, CallEntry, Quirks) and the ModemDriver contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from simhost_drivers.at.codes import FinalCode
from simhost_drivers.modems.events import EventSink, RegistrationState
from simhost_drivers.modems.ussd import UssdAnswer

__all__ = ["CallEntry", "IccidQuery", "ModemDriver", "ModemInfo", "Quirks", "RegistrationState", "StoredPdu",
           "TransientError"]


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
    # every memory the sweep drains (the read memory first), from the first list of AT+CPMS=?
    storages: tuple[str, ...] = ()


@dataclass(frozen=True)
class IccidQuery:
    """A command that reads the ICCID; `prefix` is its answer's prefix, "" for a bare answer."""

    command: str
    prefix: str = ""


@dataclass(frozen=True)
class TransientError:
    """A +CME/+CMS code that says "not now": the command is tried again in place; `source` says who says so."""

    kind: str  # "CME" or "CMS"
    code: int
    source: str


# Codes any 27.005/27.007 modem may give while its SIM or SMS stack is busy.
GENERIC_TRANSIENT_ERRORS: tuple[TransientError, ...] = (
    TransientError("CME", 14, "TS 27.007 §9.2.1: SIM busy"),
    TransientError("CMS", 314, "TS 27.005 §3.2.5: SIM busy"),
    TransientError("CMS", 315, "TS 27.005 §3.2.5: SIM wrong; given while the SIM is still initialising after a "
                               "restart or slot switch (gammu and smstools3 retry it)"),
    TransientError("CMS", 515, "manufacturer range: 'please wait, init or command processing in progress' "
                               "(SIMCom, Quectel and Telit AT manuals)"),
)


@dataclass(frozen=True)
class Quirks:
    """A modem family's declared differences from plain 27.005/27.007 behaviour."""

    hangup_command: str = "ATH"
    # 27.007 full functionality with a restart: the modem answers, then reboots.
    reset_command: str = "AT+CFUN=1,1"
    # What a recovery sends to a modem that stopped answering, in turn until one is accepted; () is reset_command.
    recovery_reset_commands: tuple[str, ...] = ()
    iccid_queries: tuple[IccidQuery, ...] = (IccidQuery("AT+CCID", "+CCID:"),)
    # Unsolicited lines that carry nothing we need (signal, mode and data-flow reports).
    noise_prefixes: tuple[str, ...] = ()
    extra_finals: tuple[FinalCode, ...] = ()
    # AT+CNMI parameters, tried in order: store and notify (+CMTI), status reports likewise.
    cnmi_variants: tuple[str, ...] = ("2,1,0,2,0", "2,1,0,1,0", "2,1,0,0,0", "1,1,0,0,0")
    cvhu: bool = True
    # Run right after echo-off and AT+CMEE=1; refusals are noted, not fatal.
    init_extras: tuple[str, ...] = ()
    # Where new messages are stored (AT+CPMS <mem3>, and <mem1>/<mem2> with it): the SIM by default, so a
    # message stays with the SIM it was sent to when the bank switches slots or the SIM moves to another
    # port. Where the modem does not offer it, the first of SM, ME, MT it offers, else its first memory.
    # Messages found in any other memory are drained all the same.
    receive_storage: str = "SM"
    # Memories a sweep also drains though AT+CPMS=? does not list them (where the family files status reports).
    unlisted_storages: tuple[str, ...] = ()
    sim_prefixes: tuple[str, ...] = ("+CPIN:",)
    boot_lines: tuple[str, ...] = ("RDY",)
    # How probing recognises the family: a word in the AT+CGMI answer, or the start of the AT+CGMM answer.
    manufacturers: tuple[str, ...] = ()
    model_prefixes: tuple[str, ...] = ()
    # Errors retried in place (a few short pauses) before they count as a failure of the session.
    transient_errors: tuple[TransientError, ...] = GENERIC_TRANSIENT_ERRORS
    # AT+CUSD takes the request as GSM 7-bit septets packed into hex (under AT+CSCS="GSM") and gives 7-bit answers
    # so; otherwise both are text.
    ussd_packed: bool = False


class ModemDriver(Protocol):
    """What a gateway may ask of a modem driver (the generic driver and its vendor variants implement it).

    Commands are synchronous and run on the port worker's thread; what the modem reports unasked goes as typed
    events (simhost_drivers.modems.events) to `on_event`, on the channel's reader thread. A USSD request's answer
    is such an event too (`UssdReply`, after `ussd_start`), so a worker keeps reading messages while it waits;
    `ussd` waits for it in place.
    """

    quirks: Quirks
    on_event: EventSink
    memory: str | None  # the receive storage, read between sweeps
    read_memory: str | None  # the memory reads and deletes go to now
    storages: tuple[str, ...]  # every memory a full sweep drains, `memory` first
    usage: dict[str, tuple[int, int]]  # (used, total) per memory, as last seen

    @property
    def name(self) -> str: ...

    def init(self) -> ModemInfo: ...

    def iccid(self) -> str | None: ...

    def registration(self) -> RegistrationState: ...

    def signal_dbm(self) -> int | None: ...

    def storages_status(self) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]: ...

    def notifications_lost(self) -> bool: ...

    def list_messages(self, stat: int = ..., memory: str | None = None) -> list[StoredPdu]: ...

    def read_message(self, index: int, memory: str | None = None) -> StoredPdu | None: ...

    def delete_message(self, index: int, memory: str | None = None) -> None: ...

    def restore_memory(self) -> None: ...

    def ack_direct(self) -> bool: ...

    def hang_up(self) -> bool: ...

    def current_calls(self) -> list[CallEntry] | None: ...

    @property
    def last_answer_at(self) -> float: ...

    def reset(self) -> None: ...

    def ping(self) -> None: ...

    def send_pdu(self, pdu_hex: str, tpdu_len: int) -> int: ...

    def ussd(self, code: str, timeout_s: float) -> UssdAnswer: ...

    def ussd_start(self, code: str) -> None: ...

    def ussd_cancel(self) -> None: ...

    def close(self) -> None: ...
