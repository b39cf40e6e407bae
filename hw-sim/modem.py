"""The base virtual modem: a 27.005/27.007 AT interpreter over one pty, its SIMs, storage, calls and faults."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from hwsim import textmode
from hwsim.commands import AtError, Cmd, CmeError, CmsError, FinalError, PlainError, Prompt, split_command_line
from hwsim.dialect import Dialect, Timing
from hwsim.faults import GARBAGE_RESPONSES, Faults, check_fault
from hwsim.identity import SimIdentity
from hwsim.loop import EventLoop, PtyPort, Timer
from hwsim.pduinfo import PduError, inspect_deliver, tpdu_octets
from hwsim.sms import encode_deliver, encode_status_report

__all__ = [
    "AtError",
    "Call",
    "Cmd",
    "CmeError",
    "CmsError",
    "FinalError",
    "Memory",
    "PlainError",
    "Prompt",
    "Settings",
    "Sim",
    "Stored",
    "VirtualModem",
    "split_command_line",
]

CTRL_Z = 0x1A
ESC = 0x1B
CR = 0x0D
LF = 0x0A
BACKSPACE = 0x08
MAX_LINE_BYTES = 4096
AT_LOG_ENTRIES = 5000
SIM_CAPACITY = 20
GARBAGE_MIN_BYTES = 4
GARBAGE_MAX_BYTES = 24
FILLER_SENDER = "+79000000001"
USSD_REPLY = "Balance: 100.00 RUB"
REG_HOME = 1
REG_NONE = 0
REG_SEARCHING = 2
REG_SMS_ONLY = 6  # 27.007: registered for "SMS only", home network (E-UTRAN)
REGISTERED = (1, 5, 6, 7)  # home, roaming, and the SMS-only variants of both
LAC = "1A2B"
CELL_ID = "00C3D4"
STAT_NAMES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")
# 27.007 §9.2 / 27.005 §3.2.5 texts for AT+CMEE=2
CME_TEXT = {3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
            13: "SIM failure", 14: "SIM busy", 21: "invalid index", 30: "no network service",
            50: "incorrect parameters", 100: "unknown"}
CMS_TEXT = {300: "ME failure", 302: "operation not allowed", 303: "operation not supported",
            304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
            310: "SIM not inserted", 321: "invalid memory index", 322: "memory full",
            331: "no network service", 340: "no +CNMA acknowledgement expected", 500: "unknown error"}
NUMERIC_CODES = {"OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4", "NO DIALTONE": "6",
                 "BUSY": "7", "NO ANSWER": "8"}



@dataclass
class Stored:
    index: int
    stat: int
    pdu: str


@dataclass
class Memory:
    """A message memory ("SM" on a SIM, "ME" in the modem, "SR" for status reports)."""

    name: str
    capacity: int
    slots: MutableMapping[int, Stored] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return len(self.slots)

    def free_index(self) -> int | None:
        return next((i for i in range(1, self.capacity + 1) if i not in self.slots), None)


class _UnionSlots(MutableMapping[int, Stored]):
    """The slots of several memories numbered one after the other: indexes 1..n1 are the first memory's,
    n1+1..n1+n2 the second's, and so on."""

    def __init__(self, parts: list[Memory]) -> None:
        self._parts = parts

    def _locate(self, index: int) -> tuple[Memory, int]:
        offset = 0
        for part in self._parts:
            if offset < index <= offset + part.capacity:
                return part, index - offset
            offset += part.capacity
        raise KeyError(index)

    def __getitem__(self, index: int) -> Stored:
        part, local = self._locate(index)
        return part.slots[local]

    def __setitem__(self, index: int, stored: Stored) -> None:
        part, local = self._locate(index)
        part.slots[local] = Stored(local, stored.stat, stored.pdu)

    def __delitem__(self, index: int) -> None:
        part, local = self._locate(index)
        del part.slots[local]

    def __iter__(self) -> Iterator[int]:
        offset = 0
        for part in self._parts:
            yield from sorted(offset + i for i in part.slots)
            offset += part.capacity

    def __len__(self) -> int:
        return sum(len(part.slots) for part in self._parts)


def union_memory(name: str, parts: list[Memory]) -> Memory:
    """A memory made of `parts` ("MT" = "SM" then "ME"): filled in that order, indexes one range after another,
    as Siemens TC35i and L55 manuals number their "MT" (the sum of "ME" and "SM")."""
    return Memory(name, sum(p.capacity for p in parts), _UnionSlots(parts))


@dataclass
class Sim:
    identity: SimIdentity
    sm: Memory
    # messages the network holds for this SIM until it can take them
    network: deque[str] = field(default_factory=deque)


@dataclass
class Call:
    id: int
    caller: str | None
    withheld: bool
    rings: int
    rings_sent: int = 0
    first_ring_at: float | None = None
    hung_up_at: float | None = None
    hangup_command: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    state: str = "ringing"  # ringing | active | hung-up | missed | rejected
    timer: Timer | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "caller": self.caller, "withheld": self.withheld, "rings": self.rings,
                "rings_sent": self.rings_sent, "first_ring_at": self.first_ring_at,
                "hung_up_at": self.hung_up_at, "hangup_command": self.hangup_command,
                "answered_at": self.answered_at, "ended_at": self.ended_at, "state": self.state}


@dataclass
class Settings:
    """What AT commands change and ATZ / a reboot restore."""

    echo: bool = True
    verbose: bool = True
    quiet: bool = False
    cmee: int = 0
    cmgf: int = 0
    csms: int = 0
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    clip: int = 0
    crc: int = 0
    ccwa: int = 0
    cvhu: int = 0
    creg: int = 0
    cgreg: int = 0
    cusd: int = 0
    cmms: int = 0
    cscs: str = "IRA"
    csdh: int = 0
    cfun: int = 1
    mems: tuple[str, str, str] = ("SM", "SM", "SM")
    ring_urc: bool = True
    # vendor periodic reports (Huawei ^RSSI/^BOOT; AT^CURC=0 turns them off)
    periodic_reports: bool = True
    # new-message indications (+CMTI/+CMT) come out on this port (Huawei: only after AT^PORTSEL=1)
    sms_urcs_here: bool = True



def _address_type(number: str) -> int:
    return 145 if number.startswith("+") else 129



def _registration_urc(name: str, mode: int, stat: int) -> str | None:
    """The +CREG/+CGREG unsolicited line for URC mode `mode` (0: none, 1: stat, 2: stat with location)."""
    if mode == 1 or (mode == 2 and stat not in REGISTERED):
        return f"{name}: {stat}"
    if mode == 2:
        return f'{name}: {stat},"{LAC}","{CELL_ID}"'
    return None

class VirtualModem:
    """One virtual modem on a pty. Profiles subclass it with a DIALECT and narrow overrides.

    All state lives in the bank's event-loop thread; the public methods hand their work to it.
    """

    DIALECT: ClassVar[Dialect]
    # command name -> method name; subclasses extend it with a new mapping
    HANDLERS: ClassVar[Mapping[str, str]] = MappingProxyType({
        "": "_at", "E": "_ate", "V": "_atv", "Q": "_atq", "Z": "_atz", "&F": "_atz", "I": "_ati",
        "H": "_ath", "A": "_ata", "D": "_atd", "&W": "_ok", "&C": "_ok", "&D": "_ok", "&K": "_ok",
        "X": "_ok", "L": "_ok", "M": "_ok",
        "+CGMI": "_cgmi", "+GMI": "_cgmi", "+CGMM": "_cgmm", "+GMM": "_cgmm", "+CGMR": "_cgmr",
        "+GMR": "_cgmr", "+CGSN": "_cgsn", "+GSN": "_cgsn", "+GCAP": "_gcap",
        "+CPIN": "_cpin", "+CIMI": "_cimi", "+CCID": "_ccid", "+CRSM": "_crsm", "+CNUM": "_cnum",
        "+CREG": "_creg", "+CGREG": "_cgreg", "+CSQ": "_csq", "+COPS": "_cops", "+CFUN": "_cfun",
        "+CPAS": "_cpas", "+CGATT": "_cgatt",
        "+CMEE": "_cmee", "+CSCS": "_cscs", "+CMGF": "_cmgf", "+CSMS": "_csms", "+CPMS": "_cpms",
        "+CNMI": "_cnmi", "+CSCA": "_csca", "+CSDH": "_csdh", "+CMMS": "_cmms", "+CNMA": "_cnma",
        "+CSCB": "_ok_any",
        "+CMGL": "_cmgl", "+CMGR": "_cmgr", "+CMGD": "_cmgd", "+CMGS": "_cmgs", "+CMGW": "_cmgw",
        "+CMSS": "_cmss",
        "+CLIP": "_clip", "+CRC": "_crc", "+CCWA": "_ccwa", "+CVHU": "_cvhu", "+CHUP": "_chup",
        "+CHLD": "_chld", "+CLCC": "_clcc", "+CUSD": "_cusd",
    })
    SMS_COMMANDS: ClassVar[frozenset[str]] = frozenset(
        {"+CMGL", "+CMGR", "+CMGD", "+CMGS", "+CMGW", "+CMSS", "+CPMS", "+CNMA"})

    def __init__(self, name: str, link: Path, loop: EventLoop, imei: str, sims: list[SimIdentity], *,
                 seed: int = 0, baud: int | None = None, timing: Timing | None = None) -> None:
        if not sims:
            raise ValueError(f"{name}: a modem needs at least one SIM slot")
        self.name = name
        self.path = str(link)
        self.profile = self.DIALECT.name
        self.imei = imei
        self.timing = timing or Timing()
        self._loop = loop
        self._port = PtyPort(loop, link, self._on_bytes, baud=baud)
        self._rng = random.Random(f"hwsim-faults:{seed}:{name}")
        self._sims = [Sim(s, Memory("SM", SIM_CAPACITY)) for s in sims]
        self._me = Memory("ME", self.DIALECT.me_capacity)
        self._sr = Memory("SR", self.DIALECT.sr_capacity)
        # AT+CPMS as the modem keeps it across ATZ and restarts (only where the family saves it)
        self._saved_mems = self.DIALECT.cpms_default
        self._active = 0  # index into _sims
        self._target = 0  # where new messages go (the incoming slot during a switch)
        self._sim_present = True
        self._powered = False
        self._booting = False
        self._reg = REG_NONE
        self._signal = 10 + self._rng.randrange(15)
        self._settings = self._default_settings()
        self._line = bytearray()
        self._prompt: Prompt | None = None
        self._prompt_buf = bytearray()
        self._held_urcs: list[tuple[str, str | None]] = []
        self._last_line = ""
        self._calls: list[Call] = []
        self._call_seq = 0
        self._mr = 0
        self._sent: list[dict[str, Any]] = []
        self._unknown: list[str] = []
        self._at_log: deque[dict[str, Any]] = deque(maxlen=AT_LOG_ENTRIES)
        self._faults = Faults()
        self._awaiting_cnma: tuple[str, Timer] | None = None
        # call-end lines of a hung-up call held back by the late-no-carrier fault until the next command
        self._late_call_end: tuple[str, ...] = ()
        self._noise_timer: Timer | None = None
        self._timers: list[Timer] = []
        self._cond = threading.Condition()
        self._version = 0

    # ---- lifecycle (loop thread) ------------------------------------------------------------

    @property
    def registered(self) -> bool:
        """Whether the modem is registered (home, roaming or SMS only): it can receive SMS and calls."""
        return self._reg in REGISTERED

    def _default_settings(self) -> Settings:
        return Settings(cvhu=self.DIALECT.cvhu_default, cscs=self.DIALECT.cscs_default, mems=self._saved_mems)

    def plug(self, *, banner: bool = False) -> None:
        """Create the pty and power on; with `banner` announce the boot like a freshly plugged modem."""
        self._port.open()
        self._power_on(banner=banner)

    def unplug(self) -> None:
        self._power_off()
        self._port.close(remove_link=True)

    def _power_on(self, *, banner: bool) -> None:
        self._faults.no_network = False  # a restart brings the radio back
        self._powered = True
        self._booting = False
        self._settings = self._default_settings()
        self._line.clear()
        self._prompt = None
        self._set_registration(REG_HOME if self._sim_present else REG_NONE, report=False)
        if banner:
            self._emit_boot_banner()
        self._start_noise()
        self._drain_network(self._sims[self._active])
        self._changed()

    def _power_off(self) -> None:
        self._powered = False
        self._reg = REG_NONE
        self._prompt = None
        self._late_call_end = ()
        if self._awaiting_cnma is not None:
            pdu, timer = self._awaiting_cnma
            timer.cancel()
            self._sims[self._active].network.appendleft(pdu)
            self._awaiting_cnma = None
        if self._noise_timer is not None:
            self._noise_timer.cancel()
            self._noise_timer = None
        for call in self._calls:
            if call.state in ("ringing", "active"):
                self._end_call(call, "missed", report=False)
        self._changed()

    def shutdown(self) -> None:
        """Stop timers and close the pty (loop thread; the bank is stopping)."""
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        self._power_off()
        self._port.close(remove_link=True)

    def _later(self, delay_s: float, fn: Callable[[], None]) -> Timer:
        self._timers = [t for t in self._timers if not t.cancelled and t.when > time.monotonic() - 1]
        timer = self._loop.call_later(delay_s, fn)
        self._timers.append(timer)
        return timer

    def _emit_boot_banner(self) -> None:
        def emitter(text: str) -> Callable[[], None]:
            return lambda: self._urc(text)
        for i, line in enumerate(self.boot_lines()):
            self._later(self.timing.boot_line_gap_s * (i + 1), emitter(line))

    def boot_lines(self) -> tuple[str, ...]:
        return self.DIALECT.boot_lines

    def _start_noise(self) -> None:
        lines = self.noise_lines()
        if not lines or self.timing.noise_interval_s <= 0:
            return

        def tick() -> None:
            self._noise_timer = None
            if not self._powered:
                return
            # skip when nobody reads: the bytes would only pile up in the pty
            if self._port.pending_bytes() == 0 and self._settings.periodic_reports:
                for line in self.noise_lines():
                    self._urc(line)
            self._noise_timer = self._loop.call_later(self.timing.noise_interval_s, tick)
        self._noise_timer = self._loop.call_later(self.timing.noise_interval_s, tick)

    def noise_lines(self) -> tuple[str, ...]:
        """Periodic vendor reports (none for a plain 27.007 modem)."""
        return ()

    # ---- notification -------------------------------------------------------------------------

    def _changed(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[VirtualModem], bool], timeout_s: float) -> bool:
        """Block until `predicate(self)` holds (re-checked on every state change); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._cond:
                seen = self._version
            if predicate(self):
                return True
            with self._cond:
                while self._version == seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)

    # ---- public API (any thread) ----------------------------------------------------------------

    def sms(self, sender: str, text: str, *, encoding: str = "auto", concat_bits: int = 8,
            message_class: int | None = None, scts: datetime | None = None, smsc: str | None = None) -> list[str]:
        """Deliver an SMS as the network does; returns the PDUs (SMSC included) in part order."""
        kwargs: dict[str, Any] = {"encoding": encoding, "concat_bits": concat_bits,
                                  "message_class": message_class, "scts": scts}
        if smsc is not None:
            kwargs["smsc"] = smsc
        kwargs["reference"] = self._loop.run_sync(self._next_reference)
        pdus = encode_deliver(sender, text, **kwargs)
        self._loop.run_sync(lambda: self._deliver_all(pdus))
        return pdus

    def store(self, memory: str, sender: str, text: str = "", *, stat: int = 0, encoding: str = "auto",
              scts: datetime | None = None) -> list[dict[str, Any]]:
        """Put a message into `memory` as if it had been stored there before (no +CMTI): an SMS from `sender`
        in "SM" (the active SIM) or "ME" (the modem), or, in "SR", a status report saying the message last
        sent to `sender` was delivered. Returns the stored entries (memory, index, pdu)."""
        if not 0 <= stat <= 3:
            raise ValueError(f"stat must be 0-3, not {stat}")
        name = memory.upper()
        if name == "SR":
            pdus = [encode_status_report(sender, self._loop.run_sync(self._next_reference), scts=scts)]
        else:
            pdus = encode_deliver(sender, text, encoding=encoding, scts=scts,
                                  reference=self._loop.run_sync(self._next_reference))
        return self._loop.run_sync(lambda: self._store_now(name, pdus, stat))

    def pdu(self, hex_pdu: str) -> None:
        """Deliver a raw PDU as given (its SMSC octets included)."""
        text = hex_pdu.strip().upper()
        tpdu_octets(text)  # a clear error for something that is not hex with an SMSC field
        self._loop.run_sync(lambda: self._deliver_all([text]))

    def call(self, caller: str | None, *, rings: int = 3, withheld: bool = False) -> int:
        """Ring the active SIM; returns the call id."""
        if rings < 1:
            raise ValueError("rings must be at least 1")
        if not withheld and not caller:
            raise ValueError("a call needs a caller number unless it is withheld")
        return self._loop.run_sync(lambda: self._start_call(None if withheld else caller, rings, withheld))

    def calls(self) -> list[dict[str, Any]]:
        return self._loop.run_sync(lambda: [c.to_json() for c in self._calls])

    def slot(self, k: int) -> None:
        if not 1 <= k <= len(self._sims):
            raise ValueError(f"{self.name}: slot {k} does not exist (slots 1-{len(self._sims)})")
        self._loop.run_sync(lambda: self._switch_slot(k - 1))

    def fault(self, kind: str, *args: str) -> None:
        check_fault(kind, args)
        self._loop.run_sync(lambda: self._apply_fault(kind, args))

    def state(self) -> dict[str, Any]:
        return self._loop.run_sync(self._state)

    def info(self) -> dict[str, Any]:
        return self._loop.run_sync(self._info)

    # ---- state views (loop thread) ----------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "profile": self.profile, "imei": self.imei,
                "slots": [s.identity.to_json() for s in self._sims], "active_slot": self._active + 1}

    def _state(self) -> dict[str, Any]:
        sim = self._sims[self._active]
        storage = [{"index": m.index, "stat": m.stat, "pdu": m.pdu, "mem": mem.name}
                   for mem in (sim.sm, self._me, self._sr)
                   for m in sorted(mem.slots.values(), key=lambda m: m.index)]
        memories = {mem.name: {"used": mem.used, "total": mem.capacity}
                    for mem in (sim.sm, self._me, self._sr) if mem.capacity}
        s = self._settings
        return {
            "name": self.name, "profile": self.profile, "path": self.path, "imei": self.imei,
            "plugged": self._port.is_open, "powered": self._powered,
            "active_slot": self._active + 1, "iccid": sim.identity.iccid, "imsi": sim.identity.imsi,
            "msisdn": sim.identity.msisdn, "sim_present": self._sim_present,
            "registration": self._reg, "signal": self._signal,
            "storage": storage, "storage_capacity": sim.sm.capacity, "memories": memories,
            "network_queue": {str(i + 1): list(x.network) for i, x in enumerate(self._sims)},
            "sent": list(self._sent), "calls": [c.to_json() for c in self._calls],
            "at_log": list(self._at_log), "unknown_commands": list(self._unknown),
            "faults": self._faults.to_json(),
            "settings": {"echo": s.echo, "verbose": s.verbose, "cmee": s.cmee, "cmgf": s.cmgf, "csms": s.csms,
                         "cnmi": list(s.cnmi), "clip": s.clip, "crc": s.crc, "cvhu": s.cvhu,
                         "cpms": list(s.mems), "cfun": s.cfun},
        }

    # ---- network side: SMS delivery (loop thread) ---------------------------------------------

    def _next_reference(self) -> int:
        return self._rng.randrange(256)

    def _deliver_all(self, pdus: list[str]) -> None:
        target = self._sims[self._target]
        target.network.extend(pdus)
        self._drain_network(target)
        self._changed()

    def _can_receive(self, sim: Sim) -> bool:
        return (self._powered and not self._booting and sim is self._sims[self._active] and self._sim_present
                and self.registered and not self._faults.hang)

    def _memory(self, name: str) -> Memory:
        sm = self._sims[self._active].sm
        if name == "ME" and self._me.capacity:
            return self._me
        if name == "SR" and self._sr.capacity:
            return self._sr
        if name == "MT" and self._me.capacity:
            return union_memory("MT", [sm, self._me])
        return sm

    def _store_now(self, name: str, pdus: list[str], stat: int) -> list[dict[str, Any]]:
        """Store `pdus` in memory `name` without any indication (loop thread, or before the loop runs)."""
        memories = {m.name: m for m in (self._sims[self._active].sm, self._me, self._sr) if m.capacity}
        mem = memories.get(name)
        if mem is None:
            raise ValueError(f"{self.name}: a {self.profile} modem has no {name!r} memory "
                             f"(it has {', '.join(memories)})")
        free = [i for i in range(1, mem.capacity + 1) if i not in mem.slots][:len(pdus)]
        if len(free) < len(pdus):
            raise ValueError(f"{self.name}: {name} holds {mem.used} of {mem.capacity}; "
                             f"no room for {len(pdus)} more")
        for index, pdu in zip(free, pdus, strict=True):
            mem.slots[index] = Stored(index, stat, pdu)
        self._changed()
        return [{"mem": name, "index": index, "pdu": pdu} for index, pdu in zip(free, pdus, strict=True)]

    def _drain_network(self, sim: Sim) -> None:
        """Hand the SIM what the network holds for it, as far as storage and acknowledgements allow."""
        while sim.network and self._can_receive(sim):
            pdu = sim.network[0]
            try:
                info = inspect_deliver(pdu)
            except PduError:
                info = None
            mode, mt = self._settings.cnmi[0], self._settings.cnmi[1]
            cls = info.message_class if info else None
            direct = (mode != 0 and self._settings.sms_urcs_here
                      and ((mt == 2 and cls != 2) or (mt == 3 and cls == 3)))
            if direct:
                if self._awaiting_cnma is not None:
                    return  # 27.005: no further +CMT before the previous one is acknowledged
                sim.network.popleft()
                self._send_cmt(pdu)
                continue
            mem = self._memory(self._settings.mems[2])
            index = mem.free_index()
            if index is None:
                return  # memory full: the network keeps it until space frees
            sim.network.popleft()
            mem.slots[index] = Stored(index, 0, pdu)
            if mode != 0 and mt in (1, 2, 3) and self._settings.sms_urcs_here:
                self._urc(self.cmti_line(mem.name, index, info.wap_push if info else False))
        self._changed()

    def cmti_line(self, mem: str, index: int, wap_push: bool) -> str:
        return f'+CMTI: "{mem}",{index}'

    def _send_cmt(self, pdu: str) -> None:
        try:
            length = tpdu_octets(pdu)
        except PduError:
            length = len(pdu) // 2
        self._urc(f"+CMT: ,{length}", pdu)
        if self._settings.csms == 1:
            timer = self._later(self.timing.cnma_timeout_s, self._cnma_timeout)
            self._awaiting_cnma = (pdu, timer)

    def _cnma_timeout(self) -> None:
        """27.005 §3.4.1: no +CNMA in time: the TA turns direct routing off and the network resends later."""
        if self._awaiting_cnma is None:
            return
        pdu, _ = self._awaiting_cnma
        self._awaiting_cnma = None
        s = self._settings
        s.cnmi = (s.cnmi[0], 0, s.cnmi[2], 0, s.cnmi[4])
        sim = self._sims[self._active]
        sim.network.appendleft(pdu)
        self._drain_network(sim)
        self._changed()

    # ---- calls (loop thread) ------------------------------------------------------------------

    def _start_call(self, caller: str | None, rings: int, withheld: bool) -> int:
        self._call_seq += 1
        call = Call(self._call_seq, caller, withheld, rings)
        self._calls.append(call)
        busy = any(c.state in ("ringing", "active") for c in self._calls if c is not call)
        if busy or not self._sim_present or not self.registered or not self._powered:
            # the network answers the caller busy / unreachable; nothing reaches the TE
            call.state = "rejected"
            call.ended_at = time.time()
        else:
            self._ring(call)
        self._changed()
        return call.id

    def _ring(self, call: Call) -> None:
        call.timer = None
        if call.state != "ringing":
            return
        if call.rings_sent >= call.rings:
            self._end_call(call, "missed", report=True)
            return
        if call.first_ring_at is None:
            call.first_ring_at = time.time()
        call.rings_sent += 1
        if not self._faults.hang and self._powered and not self._booting:
            self._write_ring(call)
        call.timer = self._later(self.timing.ring_interval_s, lambda: self._ring(call))
        self._changed()

    def ring_lines(self, call: Call) -> tuple[list[str], list[str]]:
        """The ring indication and the caller-id lines of one ring."""
        s = self._settings
        ring = [] if (self.DIALECT.clip_without_ring or not s.ring_urc) else (
            ["+CRING: VOICE"] if s.crc else ["RING"])
        clip = [self.clip_line(call)] if s.clip else []
        return ring, clip

    def clip_line(self, call: Call) -> str:
        if call.withheld or call.caller is None:
            number, kind, validity = "", 128, 1
        else:
            number, kind, validity = call.caller, _address_type(call.caller), 0
        if self.DIALECT.clip_style == "long":
            return f'+CLIP: "{number}",{kind},"",0,"",{validity}'
        return f'+CLIP: "{number}",{kind},,,,{validity}'

    def _write_ring(self, call: Call) -> None:
        ring, clip = self.ring_lines(call)
        if self.DIALECT.split_ring_clip and ring and clip:
            for line in ring:
                self._urc(line)

            def second_chunk() -> None:
                for line in clip:
                    self._urc(line)
            self._later(self.timing.split_gap_s, second_chunk)
            return
        for line in ring + clip:
            self._urc(line)

    def _end_call(self, call: Call, state: str, *, report: bool, command: str | None = None) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        now = time.time()
        call.state = state
        call.ended_at = now
        if command is not None:
            call.hung_up_at = now
            call.hangup_command = command
        if report and self._powered and not self._faults.hang:
            for line in self.DIALECT.call_end_lines:
                self._urc(line)
        self._changed()

    def _current_call(self) -> Call | None:
        return next((c for c in reversed(self._calls) if c.state in ("ringing", "active")), None)

    def _hang_up(self, command: str) -> None:
        call = self._current_call()
        if call is None:
            return
        repeat, self._faults.clip_repeat = self._faults.clip_repeat, None
        if repeat is not None:
            # the ring timer fired as the hang-up came in: one more RING/+CLIP of the call being released
            ring, clip = self.ring_lines(call)
            lines = ring + clip

            def write_repeat() -> None:
                for line in lines:
                    self._urc(line)
            if repeat == "after":
                self._later(0.0, write_repeat)  # after the hang-up's final result code
            else:
                write_repeat()
        self._end_call(call, "hung-up", report=False, command=command)
        if self._faults.late_no_carrier:
            self._faults.late_no_carrier = False
            self._late_call_end = self.DIALECT.call_end_lines

    # ---- SIM slots (loop thread) ----------------------------------------------------------------

    def _switch_slot(self, index: int) -> None:
        if index == self._active and self._sim_present:
            return
        self._target = index
        if self._awaiting_cnma is not None:
            pdu, timer = self._awaiting_cnma
            timer.cancel()
            self._sims[self._active].network.appendleft(pdu)
            self._awaiting_cnma = None
        for call in self._calls:
            if call.state in ("ringing", "active"):
                self._end_call(call, "missed", report=True)
        self._sim_present = False
        for line in self.DIALECT.sim_removed_lines:
            self._urc(line)
        self._set_registration(REG_NONE, report=True, after_command=False)
        self._changed()

        def inserted() -> None:
            self._active = index
            self._sim_present = True
            for line in self.sim_inserted_lines():
                self._urc(line)
            # the network registers the new SIM before it delivers anything to it
            self._set_registration(REG_HOME, report=True, after_command=False)
            self._drain_network(self._sims[self._active])
            self._changed()
        self._later(self.timing.sim_swap_s, inserted)

    def sim_inserted_lines(self) -> tuple[str, ...]:
        return self.DIALECT.sim_inserted_lines

    def _set_registration(self, stat: int, *, report: bool, after_command: bool = True) -> None:
        changed = stat != self._reg
        self._reg = stat
        if not (report and changed and self._powered):
            return
        s = self._settings
        lines = [line for name, mode in (("+CREG", s.creg), ("+CGREG", s.cgreg))
                 if (line := _registration_urc(name, mode, stat)) is not None]

        def report_now() -> None:
            for line in lines:
                self._urc(line)
        if after_command:
            # after the final result of a command that caused it
            self._later(0.0, report_now)
        else:
            report_now()

    # ---- faults (loop thread) -------------------------------------------------------------------

    def _apply_fault(self, kind: str, args: tuple[str, ...]) -> None:
        if kind == "unplug":
            self._faults.unplugged = True
            self.unplug()
        elif kind == "replug":
            self._faults.unplugged = False
            if self._port.is_open:
                self._port.close(remove_link=False)
                self._power_off()
            self.plug(banner=True)
        elif kind == "hang":
            self._faults.hang = True
        elif kind == "garbage":
            self._faults.garbage_left = GARBAGE_RESPONSES
            self._write_raw(self._garbage() + b"\r\n")
        elif kind == "urc-in-response":
            self._faults.urc_in_response = True
        elif kind == "cms-error":
            self._faults.cms_error = int(args[0])
        elif kind == "cme-error":
            self._faults.cme_error = int(args[0])
        elif kind == "sms-only":
            self._set_registration(REG_SMS_ONLY, report=True, after_command=False)
        elif kind == "storage-full":
            self._fill_storage()
        elif kind == "no-network":
            self._faults.no_network = True
            self._set_registration(REG_SEARCHING, report=True, after_command=False)
        elif kind == "reboot":
            self._reboot()
        elif kind == "clip-repeat":
            self._faults.clip_repeat = args[0] if args else "before"
        elif kind == "late-no-carrier":
            self._faults.late_no_carrier = True
        elif kind == "clear":
            self._late_call_end = ()
            searching = self._faults.no_network
            self._faults = Faults(unplugged=self._faults.unplugged)
            if searching and self._sim_present and self._settings.cfun == 1:
                self._set_registration(REG_HOME, report=True, after_command=False)
            self._drain_network(self._sims[self._active])
        self._changed()

    def _garbage(self) -> bytes:
        n = self._rng.randint(GARBAGE_MIN_BYTES, GARBAGE_MAX_BYTES)
        return bytes(self._rng.choice([b for b in range(256) if b not in (CR, LF)]) for _ in range(n))

    def _fill_storage(self) -> None:
        mem = self._memory(self._settings.mems[2])
        n = 0
        while (index := mem.free_index()) is not None:
            n += 1
            pdu = encode_deliver(FILLER_SENDER, f"hwsim storage filler {n}", reference=n % 256)[0]
            mem.slots[index] = Stored(index, 0, pdu)
        self._faults.storage_full = n

    def _reboot(self) -> None:
        """Go silent, then come back with defaults and the boot banner."""
        self._power_off()
        self._powered = True
        self._booting = True
        self._changed()

        def up() -> None:
            self._power_on(banner=True)
        self._later(self.timing.reboot_s, up)

    # ---- wire: output (loop thread) -------------------------------------------------------------

    def _log(self, direction: str, data: bytes) -> None:
        self._at_log.append({"t": time.time(), "dir": direction,
                             "data": data.decode("utf-8", "backslashreplace")})

    def _write_raw(self, data: bytes) -> None:
        if not self._port.is_open or self._faults.hang:
            return
        self._log("tx", data)
        self._port.write(data)

    def _urc(self, line: str, extra: str | None = None) -> None:
        """An unsolicited line (and a second line such as a +CMT PDU); held while a "> " prompt is open."""
        if not self._powered or self._booting:
            return
        if self._prompt is not None:
            self._held_urcs.append((line, extra))
            return
        s = self._settings
        text = line + "\r\n" if extra is None else line + "\r\n" + extra + "\r\n"
        if s.verbose:
            self._write_raw(("\r\n" + text).encode())
        else:
            code = NUMERIC_CODES.get(line)
            self._write_raw((code + "\r").encode() if code and extra is None else text.encode())

    def _final_text(self, err: AtError | None) -> str:
        s = self._settings
        if err is None:
            return "OK"
        if isinstance(err, FinalError):
            return err.text
        if isinstance(err, CmeError):
            if s.cmee == 0:
                return "ERROR"
            if s.cmee == 2:
                return f"+CME ERROR: {CME_TEXT.get(err.code, 'unknown')}"
            return f"+CME ERROR: {err.code}"
        if isinstance(err, CmsError):
            if s.cmee == 0 and self.DIALECT.cms_needs_cmee:
                return "ERROR"
            if s.cmee == 2:
                return f"+CMS ERROR: {CMS_TEXT.get(err.code, 'unknown error')}"
            return f"+CMS ERROR: {err.code}"
        return "ERROR"

    def _respond(self, info: list[str], final: str | None) -> None:
        s = self._settings
        if self._faults.urc_in_response:
            self._faults.urc_in_response = False
            urc = self.injected_urc(info)
            info = [*info[:1], urc, *info[1:]]
        parts: list[str] = []
        if s.verbose:
            if info:
                parts.append("\r\n" + "".join(line + "\r\n" for line in info))
            if final is not None and not s.quiet:
                parts.append("\r\n" + final + "\r\n")
        else:
            parts.extend(line + "\r\n" for line in info)
            if final is not None and not s.quiet:
                code = NUMERIC_CODES.get(final)
                parts.append(code + "\r" if code else final + "\r\n")
        data = "".join(parts).encode()
        if self._faults.garbage_left:
            data = b"\r\n" + self._garbage() + data
            self._faults.garbage_left -= 1
        self._write_raw(data)
        held, self._held_urcs = self._held_urcs, []
        for line, extra in held:
            self._urc(line, extra)

    def injected_urc(self, info: list[str]) -> str:
        """The unsolicited line the urc-in-response fault puts inside a response."""
        mem = self._sims[self._active].sm
        if mem.slots:
            return f'+CMTI: "SM",{max(mem.slots)}'
        return f"+CREG: {self._reg}" if not any(x.startswith("+CREG") for x in info) else f"+CGREG: {self._reg}"

    # ---- wire: input (loop thread) --------------------------------------------------------------

    def _on_bytes(self, data: bytes) -> None:
        if not self._powered or self._booting or self._faults.hang:
            self._log("rx", data)
            self._changed()
            return
        if self._settings.echo:
            self._write_raw(data)
        for b in data:
            if self._prompt is not None:
                self._prompt_byte(b)
            elif b == CR:
                line = self._line.decode("latin-1")
                self._line.clear()
                self._command_line(line)
            elif b == LF:
                continue
            elif b == BACKSPACE:
                if self._line:
                    del self._line[-1]
            elif len(self._line) < MAX_LINE_BYTES:
                self._line.append(b)
        self._changed()

    def _prompt_byte(self, b: int) -> None:
        assert self._prompt is not None
        if b == CTRL_Z:
            prompt, body = self._prompt, self._prompt_buf.decode("latin-1")
            self._prompt = None
            self._prompt_buf.clear()
            self._log("rx", (body + "<ctrl-z>").encode())
            try:
                info = prompt.submit(body)
                self._respond(info, "OK")
            except AtError as exc:
                self._respond([], self._final_text(exc))
        elif b == ESC:
            self._log("rx", (self._prompt_buf.decode("latin-1") + "<esc>").encode())
            self._prompt = None
            self._prompt_buf.clear()
            self._respond([], "OK")
        elif len(self._prompt_buf) < MAX_LINE_BYTES:
            self._prompt_buf.append(b)

    def _command_line(self, raw: str) -> None:
        upper = raw.upper()
        start = upper.find("AT")
        if start < 0:
            if upper.strip().endswith("A/") and self._last_line:
                self._command_line(self._last_line)
            elif raw.strip():
                self._log("rx", raw.encode("latin-1"))
            return
        line = raw[start:]
        self._log("rx", line.encode("latin-1"))
        self._last_line = line
        if self._late_call_end:
            # the network's release of the last call crosses this command on the wire
            late, self._late_call_end = self._late_call_end, ()
            for text in late:
                self._urc(text)
        try:
            cmds = split_command_line(line[2:])
        except AtError as exc:
            self._unknown.append(line)
            self._respond([], self._final_text(exc))
            return
        if not cmds:
            self._respond([], "OK")
            return
        info: list[str] = []
        for cmd in cmds:
            try:
                result = self._dispatch(cmd)
            except AtError as exc:
                self._respond(info, self._final_text(exc))
                return
            if isinstance(result, Prompt):
                if info:
                    self._respond(info, None)
                self._prompt = result
                self._prompt_buf.clear()
                self._write_raw(b"\r\n> ")
                return
            info.extend(result)
        self._respond(info, "OK")

    def _dispatch(self, cmd: Cmd) -> list[str] | Prompt:
        method = self.HANDLERS.get(cmd.name)
        if method is None:
            self._unknown.append(cmd.text)
            raise self.unknown_command(cmd)
        if cmd.name in self.SMS_COMMANDS and (injected := self._faults.take_sms_error()) is not None:
            raise injected
        handler: Callable[[Cmd], list[str] | Prompt] = getattr(self, method)
        return handler(cmd)

    def unknown_command(self, cmd: Cmd) -> AtError:
        if self.DIALECT.unknown_final != "ERROR":
            return FinalError(self.DIALECT.unknown_final)
        return PlainError(cmd.text)

    # ---- helpers for handlers -------------------------------------------------------------------

    def _need_sim(self) -> Sim:
        if not self._sim_present:
            raise CmeError(10)
        return self._sims[self._active]

    def _need_sim_sms(self) -> Sim:
        if not self._sim_present:
            raise CmsError(310)
        return self._sims[self._active]

    @staticmethod
    def _flag(cmd: Cmd, current: int, hi: int, name: str, test: str | None = None) -> tuple[list[str], int]:
        """A 0..hi setting: (response lines, new value)."""
        if cmd.kind == "read":
            return [f"{name}: {current}"], current
        if cmd.kind == "test":
            return [f"{name}: {test or f'(0-{hi})'}"], current
        if cmd.kind == "exec":
            return [], current
        return [], cmd.int_param(0, 0, hi)

    # ---- basic commands ---------------------------------------------------------------------------

    def _at(self, cmd: Cmd) -> list[str]:
        return []

    def _ok(self, cmd: Cmd) -> list[str]:
        return []

    def _ok_any(self, cmd: Cmd) -> list[str]:
        return []

    def _ate(self, cmd: Cmd) -> list[str]:
        self._settings.echo = cmd.int_param(0, 0, 1, 0) == 1 if cmd.arg else False
        return []

    def _atv(self, cmd: Cmd) -> list[str]:
        self._settings.verbose = cmd.int_param(0, 0, 1, 0) == 1 if cmd.arg else False
        return []

    def _atq(self, cmd: Cmd) -> list[str]:
        self._settings.quiet = cmd.int_param(0, 0, 1, 0) == 1 if cmd.arg else False
        return []

    def _atz(self, cmd: Cmd) -> list[str]:
        self._settings = self._default_settings()
        return []

    def _ati(self, cmd: Cmd) -> list[str]:
        return [line.replace("{imei}", self.imei) for line in self.DIALECT.ati_lines]

    def _ath(self, cmd: Cmd) -> list[str]:
        if cmd.arg not in ("", "0"):
            raise PlainError(cmd.text)
        if self._settings.cvhu != 1:
            self._hang_up("ATH")
        return []

    def _ata(self, cmd: Cmd) -> list[str]:
        call = self._current_call()
        if call is None or call.state != "ringing":
            raise FinalError("NO CARRIER")
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        call.state = "active"
        call.answered_at = time.time()
        self._changed()
        return []

    def _atd(self, cmd: Cmd) -> list[str]:
        raise FinalError("NO CARRIER")

    # ---- identity -------------------------------------------------------------------------------------

    def _cgmi(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.DIALECT.manufacturer]

    def _cgmm(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.DIALECT.model]

    def _cgmr(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.DIALECT.revision]

    def _cgsn(self, cmd: Cmd) -> list[str]:
        return [] if cmd.kind == "test" else [self.imei]

    def _gcap(self, cmd: Cmd) -> list[str]:
        return ["+GCAP: +CGSM"]

    def _cpin(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if not self._sim_present:
            if self.DIALECT.cpin_absent_line is not None and cmd.kind == "read":
                return [self.DIALECT.cpin_absent_line]
            raise CmeError(10)
        if cmd.kind == "read":
            return ["+CPIN: READY"]
        raise CmeError(3)  # no PIN is asked for

    def _cimi(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return [self._need_sim().identity.imsi]

    def _ccid(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        return [f"+CCID: {self._need_sim().identity.iccid}"]

    def _crsm(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        sim = self._need_sim()
        ps = cmd.params()
        if cmd.kind == "set" and ps[:2] == ["176", "12258"]:
            digits = sim.identity.iccid.ljust(20, "F")
            swapped = "".join(digits[i + 1] + digits[i] for i in range(0, 20, 2))
            return [f'+CRSM: 144,0,"{swapped}"']
        return ["+CRSM: 106,130"]  # 6A82: file not found

    def _cnum(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        msisdn = self._need_sim().identity.msisdn
        return [f'+CNUM: "","{msisdn}",{_address_type(msisdn)}']

    # ---- network --------------------------------------------------------------------------------------

    def _registration_query(self, cmd: Cmd, name: str, mode: int) -> tuple[list[str], int]:
        """AT+CREG / AT+CGREG (same syntax): the answer, and the URC mode afterwards."""
        if cmd.kind == "read":
            if mode == 2 and self.registered:
                return [f'{name}: 2,{self._reg},"{LAC}","{CELL_ID}"'], mode
            return [f"{name}: {mode},{self._reg}"], mode
        return self._flag(cmd, mode, 2, name)

    def _creg(self, cmd: Cmd) -> list[str]:
        lines, self._settings.creg = self._registration_query(cmd, "+CREG", self._settings.creg)
        return lines

    def _cgreg(self, cmd: Cmd) -> list[str]:
        lines, self._settings.cgreg = self._registration_query(cmd, "+CGREG", self._settings.cgreg)
        return lines

    def _csq(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        rssi = self._signal if self.registered else 99
        return [f"+CSQ: {rssi},99"]

    def _cops(self, cmd: Cmd) -> list[str]:
        d = self.DIALECT
        if cmd.kind == "read":
            if not self.registered:
                return ["+COPS: 0"]
            return [f'+COPS: 0,0,"{d.operator}",{d.access_tech}']
        if cmd.kind == "test":
            plmn = self._sims[self._active].identity.imsi[:5]
            return [f'+COPS: (2,"{d.operator}","{d.operator.split()[0]}","{plmn}",{d.access_tech}),,(0-4),(0-2)']
        return []

    def _cfun(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f"+CFUN: {s.cfun}"]
        if cmd.kind == "test":
            return ["+CFUN: (0,1,4),(0,1)"]
        if cmd.kind == "exec":
            return []
        fun = cmd.int_param(0, 0, 4)
        if fun not in (0, 1, 4):
            raise CmeError(3)
        reset = cmd.int_param(1, 0, 1, 0)
        if reset:
            self._later(0.0, self._reboot)
            return []
        s.cfun = fun
        if fun != 1:
            self._faults.no_network = False  # the radio off and on again finds the network
        searching = self._faults.no_network
        self._set_registration(REG_SEARCHING if searching else REG_HOME if fun == 1 and self._sim_present
                               else REG_NONE, report=True)
        if fun == 1:
            self._later(0.0, lambda: self._drain_network(self._sims[self._active]))
        return []

    def _cpas(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CPAS: (0-5)"]
        call = self._current_call()
        status = 0 if call is None else (3 if call.state == "ringing" else 4)
        return [f"+CPAS: {status}"]

    def _cgatt(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "read":
            return [f"+CGATT: {1 if self.registered else 0}"]
        if cmd.kind == "test":
            return ["+CGATT: (0,1)"]
        return []

    # ---- SMS settings -----------------------------------------------------------------------------------

    def _cmee(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cmee = self._flag(cmd, s.cmee, 2, "+CMEE")
        return lines

    def _cscs(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f'+CSCS: "{s.cscs}"']
        if cmd.kind == "test":
            return ["+CSCS: (" + ",".join(f'"{x}"' for x in self.DIALECT.cscs_options) + ")"]
        if cmd.kind == "exec":
            return []
        value = cmd.params()[0].upper()
        if value not in self.DIALECT.cscs_options:
            raise CmeError(4)
        s.cscs = value
        return []

    def _cmgf(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cmgf = self._flag(cmd, s.cmgf, 1, "+CMGF", "(0,1)")
        return lines

    def _csdh(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.csdh = self._flag(cmd, s.csdh, 1, "+CSDH", "(0,1)")
        return lines

    def _cmms(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cmms = self._flag(cmd, s.cmms, 2, "+CMMS")
        return lines

    def _csms(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f"+CSMS: {s.csms},1,1,1"]
        if cmd.kind == "test":
            return ["+CSMS: (0,1)"]
        if cmd.kind == "exec":
            raise PlainError(cmd.text)
        s.csms = cmd.int_param(0, 0, 1)
        return ["+CSMS: 1,1,1"]

    def _cpms_offered(self) -> tuple[str, ...]:
        return self.DIALECT.cpms_memories

    def _cpms(self, cmd: Cmd) -> list[str]:
        s = self._settings
        offered = self._cpms_offered()
        # status reports are only read and deleted: "SR" is a <mem1> choice only (TS 27.005 §3.2.2)
        writable = tuple(m for m in offered if m != "SR")
        if cmd.kind == "test":
            groups = ["(" + ",".join(f'"{m}"' for m in group) + ")" for group in (offered, writable, writable)]
            return ["+CPMS: " + ",".join(groups)]
        if cmd.kind == "exec":
            raise PlainError(cmd.text)
        if any(m in ("SM", "MT") for m in s.mems) or cmd.kind == "set":
            self._need_sim_sms()
        if cmd.kind == "read":
            parts = []
            for name in s.mems:
                mem = self._memory(name)
                parts.append(f'"{name}",{mem.used},{mem.capacity}')
            return ["+CPMS: " + ",".join(parts)]
        names = [p.upper() for p in cmd.params() if p != ""]
        if (not 1 <= len(names) <= 3 or names[0] not in offered
                or any(n not in writable for n in names[1:])):
            raise CmsError(302)
        mems = list(s.mems)
        mems[:len(names)] = names
        s.mems = (mems[0], mems[1], mems[2])
        if self.DIALECT.cpms_saved:
            self._saved_mems = s.mems
        out = []
        for name in s.mems:
            mem = self._memory(name)
            out += [str(mem.used), str(mem.capacity)]
        self._later(0.0, lambda: self._drain_network(self._sims[self._active]))
        return ["+CPMS: " + ",".join(out)]

    def _cnmi(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return ["+CNMI: " + ",".join(str(x) for x in s.cnmi)]
        if cmd.kind == "test":
            return [f"+CNMI: {self.DIALECT.cnmi_test}"]
        if cmd.kind == "exec":
            return []
        ps = cmd.params()
        if len(ps) > 5:
            raise CmsError(303)
        values = list(s.cnmi)
        limits = (3, 3, 3, 2, 1)
        for i, raw in enumerate(ps):
            if raw == "":
                continue
            values[i] = cmd.int_param(i, 0, limits[i])
        s.cnmi = (values[0], values[1], values[2], values[3], values[4])
        self._later(0.0, lambda: self._drain_network(self._sims[self._active]))
        return []

    def _csca(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "read":
            smsc = "+79168999100"
            return [f'+CSCA: "{smsc}",145']
        return []

    def _cnma(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CNMA: (0-2)"]
        if self._awaiting_cnma is None:
            raise CmsError(340)
        pdu, timer = self._awaiting_cnma
        timer.cancel()
        self._awaiting_cnma = None
        if cmd.kind == "set" and cmd.int_param(0, 0, 2, 0) == 2:
            # RP-ERROR: the network keeps the message and tries again
            self._sims[self._active].network.appendleft(pdu)
        self._later(0.0, lambda: self._drain_network(self._sims[self._active]))
        return []

    # ---- SMS storage ------------------------------------------------------------------------------------

    def _read_memory(self) -> Memory:
        self._need_sim_sms()
        return self._memory(self._settings.mems[0])

    def _cmgl(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "test":
            return ["+CMGL: (" + ",".join(f'"{x}"' for x in STAT_NAMES) + ")" if s.cmgf else "+CMGL: (0-4)"]
        mem = self._read_memory()
        if s.cmgf:
            return self._cmgl_text(cmd, mem)
        if cmd.kind == "set" and not cmd.params()[0].isdigit():
            raise CmsError(304)
        stat = 0 if cmd.kind == "exec" else cmd.int_param(0, 0, 4, 0)
        keep = cmd.kind == "set" and cmd.int_param(1, 0, 1, 0) == 1
        lines: list[str] = []
        for index, m in sorted(mem.slots.items()):
            if stat not in (4, m.stat):
                continue
            lines.append(f"+CMGL: {index},{m.stat},,{self._length(m.pdu)}")
            lines.append(m.pdu)
            if m.stat == 0 and not keep:
                m.stat = 1
        return lines

    def _cmgl_text(self, cmd: Cmd, mem: Memory) -> list[str]:
        wanted = cmd.params()[0].upper() if cmd.kind == "set" else "REC UNREAD"
        if wanted not in STAT_NAMES:
            raise CmsError(305)
        stat = STAT_NAMES.index(wanted)
        lines: list[str] = []
        for index, m in sorted(mem.slots.items()):
            if stat not in (4, m.stat):
                continue
            try:
                v = textmode.view(m.pdu, self._settings.cscs)
            except textmode.TextModeError:
                lines += [f'+CMGL: {index},"{STAT_NAMES[m.stat]}","",,', m.pdu]
                continue
            head = f'+CMGL: {index},"{STAT_NAMES[m.stat]}","{v.originator}",,"{v.scts}"'
            if self._settings.csdh:
                head += f",{v.toa},{v.length}"
            lines += [head, v.data]
            if m.stat == 0:
                m.stat = 1
        return lines

    @staticmethod
    def _length(pdu: str) -> int:
        try:
            return tpdu_octets(pdu)
        except PduError:
            return len(pdu) // 2

    def _cmgr(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        mem = self._read_memory()
        index = cmd.int_param(0, 0, 65535)
        keep = cmd.int_param(1, 0, 1, 0) == 1
        if not 1 <= index <= mem.capacity:
            raise CmsError(321)
        m = mem.slots.get(index)
        if m is None:
            if self.DIALECT.cmgr_empty_ok:
                return []
            raise CmsError(321)
        if self._settings.cmgf:
            return self._cmgr_text(m)
        lines = [f"+CMGR: {m.stat},,{self._length(m.pdu)}", m.pdu]
        if m.stat == 0 and not keep:
            m.stat = 1
        return lines

    def _cmgr_text(self, m: Stored) -> list[str]:
        try:
            v = textmode.view(m.pdu, self._settings.cscs)
        except textmode.TextModeError:
            raise CmsError(302) from None
        head = f'+CMGR: "{STAT_NAMES[m.stat]}","{v.originator}",,"{v.scts}"'
        if self._settings.csdh:
            head += f',{v.toa},{v.first_octet},{v.pid},{v.dcs},"{v.smsc}",{v.smsc_toa},{v.length}'
        if m.stat == 0:
            m.stat = 1
        return [head, v.data]

    def _cmgd(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            mem = self._read_memory()
            used = ",".join(str(i) for i in sorted(mem.slots))
            return [f"+CMGD: ({used}),(0-4)"]
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        mem = self._read_memory()
        index = cmd.int_param(0, 0, 65535)
        flag = cmd.int_param(1, 0, 4, 0)
        if flag == 0:
            if not 1 <= index <= mem.capacity:
                raise CmsError(321)
            mem.slots.pop(index, None)
        else:
            doomed = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}[flag]
            for i in [i for i, m in mem.slots.items() if m.stat in doomed]:
                del mem.slots[i]
        if self._faults.storage_full and mem.used < mem.capacity:
            self._faults.storage_full = None
        self._later(0.0, lambda: self._drain_network(self._sims[self._active]))
        return []

    def _cmgs(self, cmd: Cmd) -> list[str] | Prompt:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        self._need_sim_sms()
        if self._settings.cmgf:
            number = cmd.params()[0]
            if not number:
                raise CmsError(305)
            return Prompt(lambda body: self._send(f"text:{number}:{body}", None), cmd.text)
        length = cmd.int_param(0, 1, 255)
        return Prompt(lambda body: self._send_pdu(body, length), cmd.text)

    def _send_pdu(self, body: str, length: int) -> list[str]:
        pdu = "".join(body.split()).upper()
        try:
            octets = tpdu_octets(pdu)
        except PduError:
            raise CmsError(304) from None
        if octets != length:
            raise CmsError(304)
        return self._send(pdu, length)

    def _send(self, pdu: str, length: int | None) -> list[str]:
        if not self.registered:
            raise CmsError(331)
        self._mr = (self._mr + 1) % 256
        self._sent.append({"t": time.time(), "pdu": pdu, "length": length, "mr": self._mr})
        return [f"+CMGS: {self._mr}"]

    def _cmgw(self, cmd: Cmd) -> list[str] | Prompt:
        if cmd.kind == "test":
            return []
        self._need_sim_sms()
        if self._settings.cmgf:
            raise CmsError(302)
        length = cmd.int_param(0, 1, 255)
        stat = cmd.int_param(1, 0, 3, 2)
        mem = self._memory(self._settings.mems[1])
        if mem.free_index() is None:
            raise CmsError(322)

        def store(body: str) -> list[str]:
            pdu = "".join(body.split()).upper()
            try:
                octets = tpdu_octets(pdu)
            except PduError:
                raise CmsError(304) from None
            if octets != length:
                raise CmsError(304)
            index = mem.free_index()
            if index is None:
                raise CmsError(322)
            mem.slots[index] = Stored(index, stat, pdu)
            return [f"+CMGW: {index}"]
        return Prompt(store, cmd.text)

    def _cmss(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        mem = self._memory(self._settings.mems[1])
        self._need_sim_sms()
        index = cmd.int_param(0, 0, 65535)
        m = mem.slots.get(index)
        if m is None:
            raise CmsError(321)
        out = self._send(m.pdu, self._length(m.pdu))
        if m.stat == 2:
            m.stat = 3
        return [out[0].replace("+CMGS", "+CMSS")]

    # ---- calls ---------------------------------------------------------------------------------------

    def _clip(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f"+CLIP: {s.clip},1"]
        lines, s.clip = self._flag(cmd, s.clip, 1, "+CLIP", "(0,1)")
        return lines

    def _crc(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.crc = self._flag(cmd, s.crc, 1, "+CRC", "(0,1)")
        return lines

    def _ccwa(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "set":
            s.ccwa = cmd.int_param(0, 0, 1, 0)
            mode = cmd.int_param(1, 0, 2, 0)
            if mode == 2:
                return ["+CCWA: 1,1"]
            return []
        lines, s.ccwa = self._flag(cmd, s.ccwa, 1, "+CCWA", "(0,1)")
        return lines

    def _cvhu(self, cmd: Cmd) -> list[str]:
        s = self._settings
        lines, s.cvhu = self._flag(cmd, s.cvhu, 2, "+CVHU")
        return lines

    def _chup(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        self._hang_up("AT+CHUP")
        return []

    def _chld(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CHLD: (0,1,1x,2,2x,3,4)"]
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        value = cmd.params()[0]
        if not value or not value.isdigit() or value[0] not in "01234":
            raise CmeError(3)
        if value[0] in "01":
            self._hang_up(f"AT+CHLD={value}")
        return []

    def _clcc(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return []
        out = []
        current = [c for c in self._calls if c.state in ("ringing", "active")]
        # <id> numbers the calls in progress from 1 (27.007 §7.18, the index AT+CHLD takes), not all calls ever
        for index, c in enumerate(current, start=1):
            stat = 4 if c.state == "ringing" else 0
            number = "" if c.withheld or c.caller is None else c.caller
            out.append(f'+CLCC: {index},1,{stat},0,0,"{number}",{_address_type(number) if number else 128}')
        return out

    def _cusd(self, cmd: Cmd) -> list[str]:
        s = self._settings
        if cmd.kind == "read":
            return [f"+CUSD: {s.cusd}"]
        if cmd.kind == "test":
            return ["+CUSD: (0-2)"]
        if cmd.kind == "exec":
            return []
        ps = cmd.params()
        n = cmd.int_param(0, 0, 2, s.cusd)
        if n in (0, 1):
            s.cusd = n
        if len(ps) > 1 and ps[1]:
            if not self.registered:
                raise CmeError(30)
            if s.cusd == 1:
                self._later(self.timing.ussd_reply_s, lambda: self._urc(f'+CUSD: 0,"{USSD_REPLY}",15'))
        return []
