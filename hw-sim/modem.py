"""The virtual modem: one pty's lifecycle (plug, power, boot, reboot, SIM slots, timers) and its public API."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hwsim.basic import BasicRoom
from hwsim.calls import Call, CallsRoom
from hwsim.commands import AtError, Cmd, CmeError, CmsError, FinalError, PlainError, Prompt, handles, split_command_line
from hwsim.core import REG_DENIED, REG_NONE, REG_SEARCHING, REG_SMS_ONLY, Settings
from hwsim.dialect import Timing
from hwsim.faults import GARBAGE_RESPONSES, Faults, check_fault
from hwsim.identity import SimIdentity
from hwsim.loop import EventLoop, PtyPort, Timer
from hwsim.memory import SIM_CAPACITY, Memory, Sim, Stored
from hwsim.network import NetworkRoom
from hwsim.pduinfo import tpdu_octets
from hwsim.sending import REPORT_STATUS, SendingRoom
from hwsim.sms import encode_deliver, encode_status_report
from hwsim.storage import StorageRoom
from hwsim.ussd import ANY_CODE, UssdService, check_code
from hwsim.wire import AT_LOG_ENTRIES, WireRoom

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
    "handles",
    "split_command_line",
]

FILLER_SENDER = "+79000000001"


class VirtualModem(CallsRoom, SendingRoom, NetworkRoom, StorageRoom, BasicRoom, WireRoom):
    """One virtual modem on a pty. Profiles subclass it with a DIALECT, narrow overrides and @handles methods.

    The AT work is done by the rooms it is made of (hwsim.wire, basic, storage, network, sending, calls), which
    share the state hwsim.core.ModemCore declares. All state lives in the bank's event-loop thread; the public
    methods hand their work to it.
    """

    def __init__(self, name: str, link: Path, loop: EventLoop, imei: str, sims: list[SimIdentity], *,
                 seed: int = 0, baud: int | None = None, timing: Timing | None = None,
                 location: str = "1-1.1") -> None:
        if not sims:
            raise ValueError(f"{name}: a modem needs at least one SIM slot")
        self.name = name
        self.path = str(link)
        # where the modem sits on the USB bus (sysfs device name, bus-hub.port): it stays when the tty name changes
        self.location = location
        self._first_link = link
        self._renumbered = 0
        self.profile = self.DIALECT.name
        self.imei = imei
        self.timing = timing or Timing()
        self._loop = loop
        self._port = PtyPort(loop, link, self._on_bytes, baud=baud)
        self._rng = random.Random(f"hwsim-faults:{seed}:{name}")
        self._sims = [Sim(s, Memory("SM", SIM_CAPACITY)) for s in sims]
        self._me = Memory("ME", self.DIALECT.me_capacity)
        self._sr = Memory("SR", self.DIALECT.sr_capacity)
        self._saved_mems = self.DIALECT.cpms_default
        self._active = 0
        self._target = 0
        self._sim_present = True
        self._powered = False
        self._booting = False
        self._reg = REG_NONE
        self._signal = 10 + self._rng.randrange(15)
        self._settings = self._default_settings()
        self._line = bytearray()
        self._prompt = None
        self._prompt_buf = bytearray()
        self._held_urcs = []
        self._last_line = ""
        self._calls = []
        self._call_seq = 0
        self._mr = 0
        self._sent = []
        self._send_failures = []
        self._report_outcome = "delivered"
        self._report_outcome_to = {}
        self._unknown = []
        self._at_log = deque(maxlen=AT_LOG_ENTRIES)
        self._faults = Faults()
        self._awaiting_cnma = None
        self._late_call_end = ()
        self._ussd_open = False
        self._ussd_timer = None
        self._ussd_requests = []
        self._noise_timer: Timer | None = None
        self._timers: list[Timer] = []
        self._cond = threading.Condition()
        self._version = 0

    # ---- lifecycle (loop thread) ---------------------------------------------------------------------------

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
        self._set_registration(self._home() if self._sim_present else REG_NONE, report=False)
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
        self._end_ussd()
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

    # ---- notification --------------------------------------------------------------------------------------

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

    # ---- public API (any thread) ---------------------------------------------------------------------------

    def sms(self, sender: str, text: str, *, encoding: str = "auto", concat_bits: int = 8,
            message_class: int | None = None, scts: datetime | None = None, smsc: str | None = None,
            slot: int | None = None) -> list[str]:
        """Deliver an SMS as the network does; returns the PDUs (SMSC included) in part order. To the SIM in
        `slot` (default: the active one): a SIM out of its slot gets it when its slot comes online, unless
        Timing.sms_validity_s passed first."""
        index = None if slot is None else self._slot_index(slot)
        kwargs: dict[str, Any] = {"encoding": encoding, "concat_bits": concat_bits,
                                  "message_class": message_class, "scts": scts}
        if smsc is not None:
            kwargs["smsc"] = smsc
        kwargs["reference"] = self._loop.run_sync(self._next_reference)
        pdus = encode_deliver(sender, text, **kwargs)
        self._loop.run_sync(lambda: self._deliver_all(pdus, index))
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
        index = self._slot_index(k)
        self._loop.run_sync(lambda: self._switch_slot(index))

    def _slot_index(self, k: int) -> int:
        if not 1 <= k <= len(self._sims):
            raise ValueError(f"{self.name}: slot {k} does not exist (slots 1-{len(self._sims)})")
        return k - 1

    def fault(self, kind: str, *args: str) -> None:
        check_fault(kind, args)
        self._loop.run_sync(lambda: self._apply_fault(kind, args))

    def usb_reset(self) -> None:
        """What USBDEVFS_RESET does to the device: it drops off the bus and enumerates again (a new tty, under
        another name with renumber-on-reset); a wedge that a USB reset ends, ends."""
        self._loop.run_sync(lambda: self._reenumerate("usb-reset"))

    def power_cycle(self) -> None:
        """Power off and on at the hub port: as a USB reset, and the firmware starts afresh (every wedge ends)."""
        self._loop.run_sync(lambda: self._reenumerate("power-cycle"))

    def report(self, outcome: str, *, to: str | None = None) -> None:
        """How the network's status reports on later sends end: "delivered" (TP-ST 0x00), "failed" (0x41,
        incompatible destination) or "pending" (0x20, congestion, and no final report); for every recipient, or
        with `to` only for sends to that number."""
        if outcome not in REPORT_STATUS:
            raise ValueError(f"a report outcome is one of {', '.join(REPORT_STATUS)}, not {outcome!r}")
        if to is not None and not to.strip():
            raise ValueError("--to needs a number")
        self._loop.run_sync(lambda: self._set_report_outcome(outcome, to))

    def ussd(self, reply: str, *, code: str = ANY_CODE, delay_s: float | None = None, encoding: str = "auto",
             slot: int | None = None) -> dict[str, Any]:
        """What the network answers a USSD `code` ("*": any code not set on its own) from the SIM in `slot` (default:
        the active one): `reply` after `delay_s` (default: the bank's timing), encoded as `encoding` (auto, gsm7,
        ucs2). Returns that SIM's USSD settings."""
        service = UssdService(reply, delay_s, encoding)
        check_code(code)
        if slot is not None and not 1 <= slot <= len(self._sims):
            raise ValueError(f"{self.name}: slot {slot} does not exist (slots 1-{len(self._sims)})")

        def put() -> dict[str, Any]:
            sim = self._sims[self._active if slot is None else slot - 1]
            sim.ussd[code] = service
            self._changed()
            return {c: s.to_json() for c, s in sim.ussd.items()}
        return self._loop.run_sync(put)

    def state(self) -> dict[str, Any]:
        return self._loop.run_sync(self._state)

    def info(self) -> dict[str, Any]:
        return self._loop.run_sync(self._info)

    # ---- state views (loop thread) -------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "profile": self.profile, "imei": self.imei,
                "location": self.location, "slots": [s.identity.to_json() for s in self._sims],
                "active_slot": self._active + 1}

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
            "location": self.location, "plugged": self._port.is_open, "powered": self._powered,
            "active_slot": self._active + 1, "iccid": sim.identity.iccid, "imsi": sim.identity.imsi,
            "msisdn": sim.identity.msisdn, "sim_present": self._sim_present,
            "registration": self._reg, "signal": self._signal,
            "storage": storage, "storage_capacity": sim.sm.capacity, "memories": memories,
            "network_queue": {str(i + 1): list(x.network) for i, x in enumerate(self._sims)},
            "network_expired": {str(i + 1): x.expired for i, x in enumerate(self._sims) if x.expired},
            # every SIM's own storage, in its slot or not (a SIM keeps what it stored when it leaves its slot)
            "sim_storage": {str(i + 1): [m.pdu for m in sorted(x.sm.slots.values(), key=lambda m: m.index)]
                            for i, x in enumerate(self._sims)},
            "sent": list(self._sent), "send_failures": list(self._send_failures),
            "reports": {"outcome": self._report_outcome, "to": dict(self._report_outcome_to)},
            "calls": [c.to_json() for c in self._calls],
            "ussd": {"services": {c: x.to_json() for c, x in sim.ussd.items()}, "open": self._ussd_open,
                     "requests": list(self._ussd_requests)},
            "at_log": list(self._at_log), "unknown_commands": list(self._unknown),
            "faults": self._faults.to_json(),
            "settings": {"echo": s.echo, "verbose": s.verbose, "cmee": s.cmee, "cmgf": s.cmgf, "csms": s.csms,
                         "cnmi": list(s.cnmi), "clip": s.clip, "crc": s.crc, "cvhu": s.cvhu,
                         "cpms": list(s.mems), "cfun": s.cfun},
        }

    # ---- SIM slots (loop thread) ---------------------------------------------------------------------------

    def _switch_slot(self, index: int) -> None:
        if index == self._active and self._sim_present:
            return
        self._target = index
        self._end_ussd()
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
            self._set_registration(self._home(), report=True, after_command=False)
            self._drain_network(self._sims[self._active])
            self._changed()
        self._later(self.timing.sim_swap_s, inserted)

    def sim_inserted_lines(self) -> tuple[str, ...]:
        return self.DIALECT.sim_inserted_lines

    def _reboot(self) -> None:
        """Go silent, then come back with defaults and the boot banner."""
        self._power_off()
        self._powered = True
        self._booting = True
        self._changed()

        def up() -> None:
            self._power_on(banner=True)
        self._later(self.timing.reboot_s, up)

    def _reenumerate(self, action: str) -> None:
        """The device leaves the bus now and is back after timing.reenumerate_s, booting (loop thread)."""
        if self._faults.unplugged:
            return  # nothing on that hub port to reset
        self._faults.unwedge(action)
        self._power_off()
        self._port.close(remove_link=True)
        self._changed()

        def back() -> None:
            if self._faults.renumber:
                self._renumbered += 1
                self._port.link = self._first_link.with_name(f"{self._first_link.name}-r{self._renumbered}")
                self.path = str(self._port.link)
            self.plug(banner=True)
        self._later(self.timing.reenumerate_s, back)

    # ---- faults (loop thread) ------------------------------------------------------------------------------

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
        elif kind == "send-error":
            self._faults.send_error = int(args[0])
            self._faults.send_errors_left = int(args[1]) if len(args) > 1 else 1
        elif kind == "sms-only":
            self._set_registration(REG_SMS_ONLY, report=True, after_command=False)
        elif kind == "storage-full":
            self._fill_storage()
        elif kind == "no-network":
            self._faults.no_network = True
            self._set_registration(REG_SEARCHING, report=True, after_command=False)
        elif kind == "reboot":
            self._reboot()
        elif kind == "denied":
            self._faults.denied_slots |= {int(args[0])}
            if self._sim_present and self.registered:
                self._set_registration(self._home(), report=True, after_command=False)
        elif kind == "clip-repeat":
            self._faults.clip_repeat = args[0] if args else "before"
        elif kind == "late-no-carrier":
            self._faults.late_no_carrier = True
        elif kind == "ussd":
            self._faults.ussd = args[0]
        elif kind.startswith("wedge-until-"):
            self._faults.wedge = kind.removeprefix("wedge-until-")
        elif kind == "renumber-on-reset":
            self._faults.renumber = True
        elif kind == "clear":
            self._late_call_end = ()
            refused = self._faults.no_network or self._reg == REG_DENIED
            self._faults = Faults(unplugged=self._faults.unplugged)
            if refused and self._sim_present and self._settings.cfun == 1:
                self._set_registration(self._home(), report=True, after_command=False)
            self._drain_network(self._sims[self._active])
        self._changed()

    def _fill_storage(self) -> None:
        mem = self._memory(self._settings.mems[2])
        n = 0
        while (index := mem.free_index()) is not None:
            n += 1
            pdu = encode_deliver(FILLER_SENDER, f"hwsim storage filler {n}", reference=n % 256)[0]
            mem.slots[index] = Stored(index, 0, pdu)
        self._faults.storage_full = n
