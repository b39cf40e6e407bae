"""The generic 27.005/27.007 driver: what modems share; vendors override narrow steps, quirks."""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

from simhost_drivers.at.channel import AtChannel, Response
from simhost_drivers.at.errors import (
    AtError,
    CommandError,
    CommandTimeoutError,
    ConnectionLostError,
    InvalidMemoryIndexError,
    NotAllowedError,
    NotSupportedError,
    ResponseError,
    SimLockedError,
    SimPinRequiredError,
    SimPukRequiredError,
)
from simhost_drivers.modems import events as ev
from simhost_drivers.modems import parsing as p
from simhost_drivers.modems.events import EventSink
from simhost_drivers.modems.types import (
    CallEntry,
    IccidQuery,
    ModemInfo,
    Quirks,
    RegistrationState,
    StoredPdu,
)
from simhost_drivers.modems.ussd import (
    DCS_GSM7,
    UssdAnswer,
    UssdNetworkError,
    UssdTimeoutError,
    UssdUnsupportedError,
    check_code,
    pack_code,
    parse_cusd,
)

COMMAND_TIMEOUT_S = 5.0
SYNC_TIMEOUT_S = 1.0
SYNC_ATTEMPTS = 3
LIST_TIMEOUT_S = 30.0
CMGS_TIMEOUT_S = 60.0
HANGUP_TIMEOUT_S = 10.0
RESET_TIMEOUT_S = 15.0
# AT+CUSD=1,... answers OK at once on most modems, the network's answer follows as +CUSD; some wait for it first
USSD_COMMAND_TIMEOUT_S = 30.0
IMEI_DIGITS = (14, 17)
IMSI_DIGITS = (6, 15)
STAT_ALL = 4
ICCID_FALLBACK = "AT+CRSM=176,12258,0,0,10"  # READ BINARY of EF_ICCID (2FE2), 10 bytes
# Pauses before each new try of a command that failed with a transient error (then the error stands).
TRANSIENT_RETRY_PAUSES_S = (0.1, 0.3, 1.0)
# A modem a previous program left with echo on or numeric result codes (ATV0) answers this in words.
SYNC_COMMAND = "ATE0 V1"
RECEIVE_FALLBACK = ("SM", "ME", "MT")
# Memories that show other memories' messages again: "MT" is SM and ME as one (TS 27.005 §3.2.2; Siemens
# and Quectel manuals), SIMCom's "SM_P"/"ME_P" are SM/ME with a preference for storing.
UNION_MEMORIES: dict[str, tuple[str, ...]] = {"MT": ("SM", "ME"), "SM_P": ("SM",), "ME_P": ("ME",)}
# Cell broadcast pages are not SMS PDUs, and nothing here asks for them.
NOT_DRAINED = ("BM",)


def storages_to_drain(offered: list[str]) -> list[str]:
    """The memories of `offered` (the first list of AT+CPMS=?) that together hold every stored message once:
    a union memory is skipped when all its parts are offered, and read instead of them otherwise."""
    chosen = [m for m in dict.fromkeys(offered) if m not in NOT_DRAINED]
    for union, parts in UNION_MEMORIES.items():
        if union not in chosen:
            continue
        if all(part in chosen for part in parts):
            chosen.remove(union)
        else:
            chosen = [m for m in chosen if m not in parts]
    return chosen


def sync_channel(channel: AtChannel, *, timeout_s: float = SYNC_TIMEOUT_S, attempts: int = SYNC_ATTEMPTS) -> None:
    """Get an OK to `ATE0 V1` (bytes left over from before the port was opened are skipped).

    Echo off and verbose result codes first, as ModemManager's init does: a modem left in numeric mode (ATV0) by
    another program answers its setting commands with `0`, which no reader takes for a final result code, but it
    answers this one, already verbose, with OK.
    """
    last: AtError | None = None
    for _ in range(attempts):
        try:
            channel.command(SYNC_COMMAND, timeout_s=timeout_s)
            return
        except CommandError:
            # it answers in words but refuses a setting (a modem without ATV): in step, and a plain AT says so
            channel.command("AT", timeout_s=timeout_s)
            return
        except CommandTimeoutError as exc:
            last = exc
    assert last is not None
    raise last


def make_and_model(channel: AtChannel) -> tuple[str, str]:
    """(manufacturer, model) as the modem answers AT+CGMI and AT+CGMM."""
    manufacturer = p.first_text(channel.command("AT+CGMI", expect=None).lines, "+CGMI:")
    model = p.first_text(channel.command("AT+CGMM", expect=None).lines, "+CGMM:")
    return manufacturer or "", model or ""


class GenericDriver:
    """A 27.005/27.007 modem on an AtChannel; synchronous methods for the port worker's thread.

    What the modem reports on its own goes as typed events (simhost_drivers.modems.events) to one receiver,
    `on_event`, set by the worker; it is called on the channel's reader thread and must be quick.
    """

    name: ClassVar[str] = "generic"
    DEFAULT_QUIRKS: ClassVar[Quirks] = Quirks()

    @classmethod
    def matches(cls, manufacturer: str, model: str) -> bool:
        """Whether this driver is meant for a modem answering AT+CGMI/AT+CGMM so (by its declared quirks)."""
        quirks = cls.DEFAULT_QUIRKS
        return (any(word in manufacturer.upper() for word in quirks.manufacturers)
                or (model.upper().startswith(quirks.model_prefixes) and bool(quirks.model_prefixes)))

    def __init__(self, channel: AtChannel, *, quirks: Quirks | None = None) -> None:
        self.channel = channel
        self.quirks = quirks if quirks is not None else self.DEFAULT_QUIRKS
        self.log = logging.getLogger(f"simhost_drivers.modems.{channel.name.replace('.', '_')}")
        self.memory: str | None = None  # where new messages go, and the read memory between sweeps
        self.read_memory: str | None = None  # <mem1> as last set
        self.storages: tuple[str, ...] = ()  # what a full sweep drains, self.memory first
        self.usage: dict[str, tuple[int, int]] = {}  # (used, total) per memory, as last seen
        self.cnmi: str | None = None  # the AT+CNMI parameters init set
        self.on_event: EventSink = ev.ignore
        self._ussd_answer: UssdAnswer | None = None
        self._ussd_answered = threading.Event()
        self._ussd_charset_set = False
        channel.add_final_codes(self.quirks.extra_finals)
        channel.ignore(self.quirks.noise_prefixes)
        channel.on_connection_lost = self._connection_lost
        self._register_urcs()

    # ---- unsolicited lines (reader thread) -------------------------------------------------

    def _register_urcs(self) -> None:
        ch = self.channel
        ch.register_urc("+CMTI:", self._on_cmti)
        ch.register_urc("+CMT:", self._on_cmt, pdu=True)
        ch.register_urc("+CDSI:", self._on_cdsi)
        ch.register_urc("+CDS:", self._on_cds, pdu=True)
        ch.register_urc("RING", self._on_ring)
        ch.register_urc("+CRING:", self._on_ring)
        ch.register_urc("+CLIP:", self._on_clip)
        ch.register_urc("NO CARRIER", self._on_call_end)
        ch.register_urc("+CREG:", self._on_creg)
        ch.register_urc("+CEREG:", self._on_creg)
        ch.register_urc("+CUSD:", self._on_cusd)
        for prefix in self.quirks.sim_prefixes:
            ch.register_urc(prefix, self._on_sim)
        for line in self.quirks.boot_lines:
            ch.register_urc(line, self._on_boot)

    def _connection_lost(self, exc: ConnectionLostError) -> None:
        self.on_event(ev.ConnectionLost(exc))

    def _on_cmti(self, line: str, pdu: str | None) -> None:
        self.on_event(ev.NewMessage(*p.memory_index(line[len("+CMTI:"):], "+CMTI")))

    def _on_cmt(self, line: str, pdu: str | None) -> None:
        if pdu is None:
            raise ResponseError(f"{line!r} came without its PDU line; the message stays unread")
        self.on_event(ev.DirectMessage(p.check_pdu(pdu, line)))

    def _on_cdsi(self, line: str, pdu: str | None) -> None:
        self.on_event(ev.StoredReport(*p.memory_index(line[len("+CDSI:"):], "+CDSI")))

    def _on_cds(self, line: str, pdu: str | None) -> None:
        if pdu is None:
            raise ResponseError(f"{line!r} came without its PDU line")
        self.on_event(ev.DirectReport(p.check_pdu(pdu, line)))

    def _on_ring(self, line: str, pdu: str | None) -> None:
        self.on_event(ev.Ring())

    def _on_clip(self, line: str, pdu: str | None) -> None:
        self.on_event(ev.CallerId(*p.clip_fields(line[len("+CLIP:"):])))

    def _on_call_end(self, line: str, pdu: str | None) -> None:
        self.on_event(ev.CallEnded())

    def _on_creg(self, line: str, pdu: str | None) -> None:
        # URC form (AT+CREG=1 or 2): <stat>[,"<lac>","<ci>"]; the <n>,<stat> form only answers AT+CREG?
        state = p.registration_urc(line.split(":", 1)[1])
        if state is not None:
            self.on_event(ev.Registration(state))
        else:
            self.log.debug("%s: registration line in the answer form outside a command: %r", self.channel.name, line)

    def _on_cusd(self, line: str, pdu: str | None) -> None:
        answer = parse_cusd(line[len("+CUSD:"):], packed=self.quirks.ussd_packed)
        self._ussd_answer = answer
        self._ussd_answered.set()
        self.on_event(ev.UssdReply(answer))

    def _on_sim(self, line: str, pdu: str | None) -> None:
        self.on_event(ev.SimChanged(line))

    def _on_boot(self, line: str, pdu: str | None) -> None:
        # a command in flight will never be answered: give it up now rather than at its timeout
        self.channel.interrupt(f"the modem restarted ({line})")
        self.on_event(ev.Booted(line))

    # ---- commands (worker thread) ----------------------------------------------------------

    def _cmd(self, command: str, *, expect: tuple[str, ...] | None = (),
             timeout_s: float = COMMAND_TIMEOUT_S, pdu: bool = False) -> Response:
        """Run `command`; one that fails with an error the family declares transient is tried again in place."""
        for pause in (*TRANSIENT_RETRY_PAUSES_S, None):
            try:
                return self.channel.command(command, expect=expect, timeout_s=timeout_s, pdu=pdu)
            except CommandError as exc:
                if pause is None or not self.transient(exc):
                    raise
                self.log.info("%s: %s answered %s; trying again in %g s", self.channel.name, command, exc.final,
                              pause)
                threading.Event().wait(pause)
        raise AssertionError("unreachable")

    def transient(self, exc: CommandError) -> bool:
        """Whether `exc` is one of the errors the family declares transient."""
        return exc.code is not None and any(t.kind == exc.source and t.code == exc.code
                                            for t in self.quirks.transient_errors)

    def _optional(self, command: str, notes: list[str]) -> bool:
        """Run a setting the service can live without; a refusal becomes a note."""
        try:
            self._cmd(command)
        except CommandError as exc:
            notes.append(f"{command} refused: {exc.final}")
            self.log.info("%s: %s refused (%s)", self.channel.name, command, exc.final)
            return False
        return True

    def init(self) -> ModemInfo:
        """Bring the modem to a known state and read its identity; SIM PIN/PUK raise at once."""
        notes: list[str] = []
        self.sync()
        self._cmd("ATE0")
        self._cmd("AT+CMEE=1")
        for extra in self.quirks.init_extras:
            self._optional(extra, notes)
        sim_state = self.sim_state()
        manufacturer, model, revision = self.identity()
        imei, imsi, iccid = self.imei(), self.imsi(), self.iccid()
        registration = self.registration()
        msisdn, operator = self.own_number(), self.operator()
        self._cmd("AT+CMGF=0")
        used, total = self.select_storage()
        cnmi = self.enable_notifications(notes)
        self._optional("AT+CLIP=1", notes)
        # Registration URCs tell the worker when to look again for a swapped SIM, which a plain
        # 27.007 modem does not report by itself.
        self._optional("AT+CREG=1", notes)
        self._optional("AT+CRC=1", notes)
        if self.quirks.cvhu:
            self._optional("AT+CVHU=0", notes)
        return ModemInfo(
            driver=self.name, manufacturer=manufacturer, model=model, revision=revision,
            imei=imei, imsi=imsi, iccid=iccid, sim_state=sim_state, registration=registration,
            storage=self.memory, storage_used=used, storage_total=total, cnmi=cnmi,
            notes=tuple(notes), msisdn=msisdn, operator=operator, storages=self.storages,
        )

    def sync(self) -> None:
        sync_channel(self.channel)

    def sim_state(self) -> str:
        """AT+CPIN?: "READY", or a SimLockedError subclass saying which code the SIM waits for."""
        state = self._cmd("AT+CPIN?", expect=("+CPIN:",)).value("+CPIN:").strip('"').upper()
        if state == "READY":
            return state
        final = f"+CPIN: {state}"
        if state == "SIM PIN":
            raise SimPinRequiredError("AT+CPIN?", final, description="the SIM waits for its PIN")
        if state == "SIM PUK":
            raise SimPukRequiredError("AT+CPIN?", final, description="the SIM waits for its PUK")
        raise SimLockedError("AT+CPIN?", final, description=f"the SIM is not ready: {state}")

    def identity(self) -> tuple[str, str, str | None]:
        """(manufacturer, model, revision) from AT+CGMI, AT+CGMM, AT+CGMR."""
        manufacturer, model = make_and_model(self.channel)
        try:
            revision = p.first_text(self._cmd("AT+CGMR", expect=None).lines, "+CGMR:")
        except CommandError:
            revision = None
        return manufacturer, model, revision

    def own_number(self) -> str | None:
        """The SIM's own MSISDN from AT+CNUM, None when the SIM does not store it or the modem refuses."""
        try:
            lines = self._cmd("AT+CNUM", expect=("+CNUM:",)).lines
        except CommandError:
            return None
        for line in lines:
            fields = [f.strip().strip('"') for f in line[len("+CNUM:"):].split(",")]
            if len(fields) < 2 or not fields[1].lstrip("+").isdigit():
                continue
            number = fields[1]
            international = len(fields) > 2 and fields[2] == "145"
            return "+" + number if international and not number.startswith("+") else number
        return None

    def operator(self) -> str | None:
        """The registered network's name from AT+COPS? (None when not registered or refused)."""
        try:
            lines = self._cmd("AT+COPS?", expect=("+COPS:",)).lines
        except CommandError:
            return None
        for line in lines:
            fields = line[len("+COPS:"):].split(",")
            if len(fields) >= 3:
                return fields[2].strip().strip('"') or None
        return None

    def imei(self) -> str | None:
        lines = self._cmd("AT+CGSN", expect=None).lines
        return p.digits_line(lines, "+CGSN:", *IMEI_DIGITS)

    def imsi(self) -> str | None:
        lines = self._cmd("AT+CIMI", expect=None).lines
        return p.digits_line(lines, "+CIMI:", *IMSI_DIGITS)

    def iccid(self) -> str | None:
        """The ICCID by the declared queries, then by reading EF_ICCID with AT+CRSM."""
        for query in self.quirks.iccid_queries:
            found = self._query_iccid(query)
            if found is not None:
                return found
        try:
            return p.crsm_iccid(self._cmd(ICCID_FALLBACK, expect=("+CRSM:",)).value("+CRSM:"))
        except (CommandError, ResponseError) as exc:
            self.log.warning("%s: no ICCID: %s", self.channel.name, exc)
            return None

    def _query_iccid(self, query: IccidQuery) -> str | None:
        expect = (query.prefix,) if query.prefix else None
        try:
            lines = self._cmd(query.command, expect=expect).lines
        except CommandError:
            return None
        for line in lines:
            text = line.removeprefix(query.prefix) if query.prefix else line
            found = p.iccid_from(text)
            if found is not None:
                return found
        return None

    def registration(self) -> RegistrationState:
        """AT+CREG?; when that says not registered, AT+CEREG? too (an LTE modem may be registered for SMS there
        only), if the modem knows it."""
        state = p.creg_state(self._cmd("AT+CREG?", expect=("+CREG:",)).value("+CREG:"))
        if state.registered:
            return state
        try:
            lte = p.creg_state(self._cmd("AT+CEREG?", expect=("+CEREG:",)).value("+CEREG:"), "+CEREG")
        except (CommandError, ResponseError):
            return state
        return lte if lte.registered else state

    def select_storage(self) -> tuple[int, int]:
        """Set the receive storage (`Quirks.receive_storage`) for reading, writing and receiving, whatever the
        modem kept from before (many keep AT+CPMS in non-volatile memory); note every memory to drain."""
        try:
            offered = p.cpms_options(self._cmd("AT+CPMS=?", expect=("+CPMS:",)).value("+CPMS:"))
        except (CommandError, ResponseError):
            offered = []
        preference = (self.quirks.receive_storage, *RECEIVE_FALLBACK)
        chosen = []
        for group in offered[:3] or [[]]:
            pick = next((m for m in preference if m in group), None)
            chosen.append(pick or (group[0] if group else preference[0]))
        memory = chosen[0]
        while len(chosen) < 3:
            chosen.append(memory)
        quoted = ",".join(f'"{m}"' for m in chosen)
        answer = p.split_fields(self._cmd(f"AT+CPMS={quoted}", expect=("+CPMS:",)).value("+CPMS:"))
        self.memory = self.read_memory = memory
        self.usage = {}
        usage = p.cpms_usage(",".join(answer))
        for i, name in enumerate(chosen):
            if len(answer) >= 2 * i + 2:
                self.usage.setdefault(name, p.cpms_usage(",".join(answer[2 * i:2 * i + 2])))
        drained = storages_to_drain(offered[0]) if offered else []
        self.storages = (memory, *[m for m in (*drained, *self.quirks.unlisted_storages) if m != memory])
        return usage

    def use_memory(self, memory: str) -> tuple[int, int] | None:
        """Make `memory` the one read and deleted from (AT+CPMS sets <mem1> only); its (used, total) when it
        had to be selected, None when it already was."""
        if memory == self.read_memory:
            return None
        usage = p.cpms_usage(self._cmd(f'AT+CPMS="{memory}"', expect=("+CPMS:",)).value("+CPMS:"))
        self.read_memory = memory
        self.usage[memory] = usage
        return usage

    def restore_memory(self) -> None:
        """Read from the receive storage again (after reading another memory)."""
        if self.memory is not None:
            self.use_memory(self.memory)

    def enable_notifications(self, notes: list[str]) -> str | None:
        """The first AT+CNMI variant the modem accepts (new messages stored, then +CMTI)."""
        for variant in self.quirks.cnmi_variants:
            try:
                self._cmd(f"AT+CNMI={variant}")
                # what the modem reports back is what later checks compare with (some report other values)
                self.cnmi = self._read_cnmi()
                return variant
            except CommandError as exc:
                self.log.info("%s: AT+CNMI=%s refused (%s)", self.channel.name, variant, exc.final)
        notes.append("no AT+CNMI variant accepted: new messages are found by the periodic sweep")
        return None

    def notifications_lost(self) -> bool:
        """Whether AT+CNMI no longer has the mode and <mt> init set: the modem restarted without a word (a
        plain 27.007 modem may) and forgot its settings, so new messages would not be announced."""
        if self.cnmi is None:
            return False
        now = self._read_cnmi()
        return now is not None and now != self.cnmi

    def _read_cnmi(self) -> str | None:
        """<mode>,<mt> of AT+CNMI? (what decides whether +CMTI comes); None if the modem does not say."""
        try:
            value = self._cmd("AT+CNMI?", expect=("+CNMI:",)).value("+CNMI:")
        except (CommandError, ResponseError):
            return None
        return ",".join(p.split_fields(value)[:2])

    def list_messages(self, stat: int = STAT_ALL, memory: str | None = None) -> list[StoredPdu]:
        """Every stored message with the given <stat> (4 = all), in PDU mode; from `memory` when given (it stays
        the read memory until `restore_memory`)."""
        if stat not in range(STAT_ALL + 1):
            raise ValueError(f"stat must be 0..4, not {stat}")
        if memory is not None:
            self.use_memory(memory)
        response = self._cmd(f"AT+CMGL={stat}", expect=("+CMGL:",), pdu=True,
                             timeout_s=LIST_TIMEOUT_S)
        found = []
        for line, pdu in zip(response.lines, response.pdus, strict=True):
            try:
                found.append(p.cmgl_entry(line[len("+CMGL:"):], pdu))
            except ResponseError as exc:
                # Left on the SIM: it is neither returned nor deleted, and the next sweep retries.
                self.log.error("%s: unreadable listing entry: %s", self.channel.name, exc)
        return found

    def read_message(self, index: int, memory: str | None = None) -> StoredPdu | None:
        """The message at `index` (of `memory` when given), None when the slot is empty."""
        if memory is not None:
            self.use_memory(memory)
        try:
            response = self._cmd(f"AT+CMGR={int(index)}", expect=("+CMGR:",), pdu=True)
        except InvalidMemoryIndexError:
            return None
        if not response.lines:
            return None
        return p.cmgr_entry(index, response.lines[0][len("+CMGR:"):], response.pdus[0])

    def delete_message(self, index: int, memory: str | None = None) -> None:
        if memory is not None:
            self.use_memory(memory)
        self._cmd(f"AT+CMGD={int(index)}")
        known = self.usage.get(self.read_memory or "")
        if known is not None and self.read_memory is not None:
            self.usage[self.read_memory] = (max(0, known[0] - 1), known[1])

    def storage_status(self) -> tuple[int, int]:
        """(used, total) of the read memory."""
        return self.storages_status()[1]

    def storages_status(self) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
        """({memory: (used, total)} for every memory the driver has seen, the selected ones read now with
        AT+CPMS?, the others as left by the last sweep; and (used, total) of the read memory."""
        value = self._cmd("AT+CPMS?", expect=("+CPMS:",)).value("+CPMS:")
        self.usage.update(p.cpms_query_usage(value))
        names = [m for m in self.storages if m in self.usage] or list(self.usage)
        return {m: self.usage[m] for m in names}, p.cpms_usage(value)

    def signal_dbm(self) -> int | None:
        """Received signal in dBm from AT+CSQ; None when the modem does not know (99)."""
        return p.csq_dbm(self._cmd("AT+CSQ", expect=("+CSQ:",)).value("+CSQ:"))

    def hang_up(self) -> bool:
        """Reject the ringing call with the family's command; False if the modem refused."""
        command = self.quirks.hangup_command
        try:
            self._cmd(command, timeout_s=HANGUP_TIMEOUT_S)
        except CommandError as exc:
            self.log.warning("%s: %s refused (%s)", self.channel.name, command, exc.final)
            return False
        return True

    def current_calls(self) -> list[CallEntry] | None:
        """The calls in progress from AT+CLCC; None when the modem refuses the command."""
        try:
            response = self._cmd("AT+CLCC", expect=("+CLCC:",))
        except CommandError as exc:
            self.log.info("%s: AT+CLCC refused (%s)", self.channel.name, exc.final)
            return None
        found = []
        for value in response.values("+CLCC:"):
            try:
                found.append(p.clcc_entry(value))
            except ResponseError as exc:
                self.log.warning("%s: unreadable call list entry: %s", self.channel.name, exc)
        return found

    @property
    def last_answer_at(self) -> float:
        """When the last command's final result code was read (time.monotonic(), stamped on the reader thread
        like the worker's URC stamps, so the two order exactly)."""
        return self.channel.last_final_at

    def reset(self) -> None:
        """Restart the modem (radio and all) with the family's command; it drops off the line for a while.

        A modem that restarts before its final result code is not an error here."""
        try:
            self._cmd(self.quirks.reset_command, timeout_s=RESET_TIMEOUT_S)
        except (CommandTimeoutError, ConnectionLostError) as exc:
            self.log.info("%s: no answer to %s (restarting): %s", self.channel.name, self.quirks.reset_command, exc)

    def ping(self) -> None:
        """A plain AT for the watchdog; raises on timeout or a lost connection."""
        self._cmd("AT")

    def send_pdu(self, pdu_hex: str, tpdu_len: int) -> int:
        """Send an SMS-SUBMIT PDU (SMSC octets included); returns the message reference."""
        pdu = p.check_pdu(pdu_hex, "send_pdu")
        if not 0 < tpdu_len <= len(pdu) // 2:
            raise ValueError(f"tpdu_len {tpdu_len} does not fit a {len(pdu) // 2}-octet PDU")
        response = self.channel.command_with_prompt(f"AT+CMGS={tpdu_len}", pdu, expect=("+CMGS:",),
                                                    timeout_s=CMGS_TIMEOUT_S)
        return p.to_int(p.split_fields(response.value("+CMGS:"))[0], "+CMGS reference")

    def ussd_start(self, code: str) -> None:
        """Send the USSD request `code` (digits, *, #, +); the answer comes later as a `UssdReply` event. A session
        left open (by an earlier request whose answer never came) is cancelled and the request sent again.

        Raises UssdUnsupportedError when the modem does not know AT+CUSD, UssdNetworkError when it refuses."""
        text = check_code(code)
        if self.quirks.ussd_packed:
            if not self._ussd_charset_set:
                self._ussd_charset_set = self._optional('AT+CSCS="GSM"', [])
            text = pack_code(code)
        self._ussd_answer = None
        self._ussd_answered.clear()
        command = f'AT+CUSD=1,"{text}",{DCS_GSM7}'
        try:
            try:
                self._cmd(command, timeout_s=USSD_COMMAND_TIMEOUT_S)
            except NotAllowedError:
                self.ussd_cancel()
                self._cmd(command, timeout_s=USSD_COMMAND_TIMEOUT_S)
        except NotSupportedError as exc:
            raise UssdUnsupportedError(f"the modem does not support USSD: {exc.final}") from exc
        except CommandError as exc:
            raise UssdNetworkError(f"the modem refused the request: {exc.final}") from exc

    def ussd_cancel(self) -> None:
        """End the USSD session (AT+CUSD=2); a modem with none open may refuse, which is no error here."""
        try:
            self._cmd("AT+CUSD=2")
        except CommandError as exc:
            self.log.debug("%s: AT+CUSD=2: %s", self.channel.name, exc.final)

    def ussd(self, code: str, timeout_s: float) -> UssdAnswer:
        """Send the USSD request `code` and wait up to `timeout_s` for the answer (the `UssdReply` event goes to
        `on_event` as well). UssdTimeoutError after cancelling the session when none came; UssdNetworkError and
        UssdUnsupportedError when the modem or the network refused."""
        self.ussd_start(code)
        if not self._ussd_answered.wait(timeout_s) or self._ussd_answer is None:
            self.ussd_cancel()
            raise UssdTimeoutError(f"no answer to USSD {code} within {timeout_s:g} s; the session was cancelled")
        return self._ussd_answer.checked()

    def ack_direct(self) -> bool:
        """Acknowledge a +CMT/+CDS with AT+CNMA; False when the modem expected no ack."""
        try:
            self._cmd("AT+CNMA")
        except CommandError as exc:
            self.log.debug("%s: AT+CNMA: %s", self.channel.name, exc.final)
            return False
        return True

    def close(self) -> None:
        self.channel.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.channel.name}>"

