"""The network side: SMS and status-report delivery (+CMTI, +CMT, +CDSI, +CDS, +CNMA), registration, CFUN, USSD."""

from __future__ import annotations

import time
from functools import partial

from hwsim import textmode
from hwsim.commands import Cmd, CmeError, CmsError, PlainError, handles
from hwsim.core import REG_NONE, REG_SEARCHING, REGISTERED, ModemCore
from hwsim.memory import Sim, Stored
from hwsim.pduinfo import MTI_STATUS_REPORT, PduError, inspect_deliver, message_type, tpdu_octets
from hwsim.ussd import (
    ANY_CODE,
    CODE_RE,
    DCS_GSM7,
    DEFAULT_REPLY,
    USSD_ERROR_CME,
    UssdService,
    reply_line,
    requested_code,
)

LAC = "1A2B"
CELL_ID = "00C3D4"


def _registration_urc(name: str, mode: int, stat: int) -> str | None:
    """The +CREG/+CGREG unsolicited line for URC mode `mode` (0: none, 1: stat, 2: stat with location)."""
    if mode == 1 or (mode == 2 and stat not in REGISTERED):
        return f"{name}: {stat}"
    if mode == 2:
        return f'{name}: {stat},"{LAC}","{CELL_ID}"'
    return None


def _length(pdu: str) -> int:
    try:
        return tpdu_octets(pdu)
    except PduError:
        return len(pdu) // 2


def _is_status_report(pdu: str) -> bool:
    try:
        return message_type(pdu) == MTI_STATUS_REPORT
    except (PduError, IndexError):
        return False


class NetworkRoom(ModemCore):
    """What the network holds for the SIM and hands over as storage and acknowledgements allow; registration."""

    # ---- SMS delivery (loop thread) ------------------------------------------------------------------------

    def _next_reference(self) -> int:
        return self._rng.randrange(256)

    def _deliver_all(self, pdus: list[str], slot_index: int | None = None) -> None:
        target = self._sims[self._target if slot_index is None else slot_index]
        target.network.extend(pdus)
        self._drain_network(target)
        for pdu in pdus:
            if pdu in target.network:
                self._later(self.timing.sms_validity_s, partial(self._expire, target, pdu))
        self._changed()

    def _expire(self, sim: Sim, pdu: str) -> None:
        """The validity period of `pdu` ran out while the network still held it for `sim`: dropped."""
        if pdu in sim.network:
            sim.network.remove(pdu)
            sim.expired += 1
            self._changed()

    def _can_receive(self, sim: Sim) -> bool:
        return (self._powered and not self._booting and sim is self._sims[self._active] and self._sim_present
                and self.registered and not self._faults.stuck)

    def _drain_network(self, sim: Sim) -> None:
        """Hand the SIM what the network holds for it, as far as storage and acknowledgements allow."""
        while sim.network and self._can_receive(sim):
            pdu = sim.network[0]
            if _is_status_report(pdu):
                if not self._hand_over_report(sim, pdu):
                    return
                continue
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

    def _hand_over_report(self, sim: Sim, pdu: str) -> bool:
        """Route an SMS-STATUS-REPORT as AT+CNMI <ds> says (27.005 §3.4.1); False while it must wait in the network.

        <ds>=1: +CDS to the terminal (acknowledged with AT+CNMA under AT+CSMS=1, like +CMT); <ds>=2: stored in the
        family's status-report memory (or <mem3>) and announced with +CDSI; <ds>=0: not routed to the terminal.
        """
        mode, ds = self._settings.cnmi[0], self._settings.cnmi[3]
        here = mode != 0 and self._settings.sms_urcs_here
        if ds == 1 and here:
            if self._awaiting_cnma is not None:
                return False
            sim.network.popleft()
            self._send_cds(pdu)
            return True
        if ds == 2:
            mem = self._memory(self.DIALECT.status_report_memory or self._settings.mems[2])
            index = mem.free_index()
            if index is None:
                return False
            sim.network.popleft()
            mem.slots[index] = Stored(index, 0, pdu)
            if here:
                self._urc(f'+CDSI: "{mem.name}",{index}')
            return True
        sim.network.popleft()
        return True

    def _send_cds(self, pdu: str) -> None:
        if self._settings.cmgf:
            self._urc(textmode.cds_line(pdu))
        else:
            self._urc(f"+CDS: {_length(pdu)}", pdu)
        self._await_cnma(pdu)

    def _send_cmt(self, pdu: str) -> None:
        self._urc(f"+CMT: ,{_length(pdu)}", pdu)
        self._await_cnma(pdu)

    def _await_cnma(self, pdu: str) -> None:
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

    @handles("+CNMI")
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

    @handles("+CNMA")
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

    # ---- registration and the radio ------------------------------------------------------------------------

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

    def _registration_query(self, cmd: Cmd, name: str, mode: int) -> tuple[list[str], int]:
        """AT+CREG / AT+CGREG (same syntax): the answer, and the URC mode afterwards."""
        if cmd.kind == "read":
            if mode == 2 and self.registered:
                return [f'{name}: 2,{self._reg},"{LAC}","{CELL_ID}"'], mode
            return [f"{name}: {mode},{self._reg}"], mode
        return self._flag(cmd, mode, 2, name)

    @handles("+CREG")
    def _creg(self, cmd: Cmd) -> list[str]:
        lines, self._settings.creg = self._registration_query(cmd, "+CREG", self._settings.creg)
        return lines

    @handles("+CGREG")
    def _cgreg(self, cmd: Cmd) -> list[str]:
        lines, self._settings.cgreg = self._registration_query(cmd, "+CGREG", self._settings.cgreg)
        return lines

    @handles("+CSQ")
    def _csq(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        rssi = self._signal if self.registered else 99
        return [f"+CSQ: {rssi},99"]

    @handles("+COPS")
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

    @handles("+CFUN")
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
        self._set_registration(REG_SEARCHING if searching else self._home() if fun == 1 and self._sim_present
                               else REG_NONE, report=True)
        if fun == 1:
            self._later(0.0, lambda: self._drain_network(self._sims[self._active]))
        return []

    @handles("+CGATT")
    def _cgatt(self, cmd: Cmd) -> list[str]:
        if cmd.kind == "read":
            return [f"+CGATT: {1 if self.registered else 0}"]
        if cmd.kind == "test":
            return ["+CGATT: (0,1)"]
        return []

    @handles("+CUSD")
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
        if n == 2:
            self._end_ussd()  # the TE cancels the session
            return []
        s.cusd = n
        if len(ps) > 1 and ps[1]:
            self._ussd_request(ps[1], cmd.int_param(2, 0, 255, DCS_GSM7))
        return []

    def _ussd_request(self, raw: str, dcs: int) -> None:
        """Hand a USSD string to the network; its answer (or the fault's) comes as a +CUSD line later."""
        if not self.registered:
            raise CmeError(30)
        if self._ussd_open:
            raise CmeError(3)  # one session at a time: the TE cancels the open one first (AT+CUSD=2)
        code = requested_code(raw, self.DIALECT.ussd_packed)
        if code is None:
            raise PlainError(f"+CUSD: {raw!r} is not packed hex")
        self._ussd_requests.append({"t": time.time(), "raw": raw, "dcs": dcs, "code": code})
        fault = self._faults.ussd
        if fault == "error":
            raise CmeError(USSD_ERROR_CME)
        sim = self._sims[self._active]
        service = sim.ussd.get(code) or sim.ussd.get(ANY_CODE) or UssdService(DEFAULT_REPLY)
        self._ussd_open = True
        if fault == "no-answer":
            return  # the session stays open until the TE cancels it
        if fault == "cancel" or not CODE_RE.match(code):
            line = "+CUSD: 2"  # the network ends the session (also what it does with a code it cannot read)
        elif fault == "unsupported":
            line = "+CUSD: 4"
        else:
            line = reply_line(0, service, self.DIALECT.ussd_packed)
        delay = service.delay_s if service.delay_s is not None else self.timing.ussd_reply_s

        def answer() -> None:
            self._ussd_timer = None
            self._ussd_open = False
            if self._settings.cusd == 1:
                self._urc(line)
            self._changed()
        self._ussd_timer = self._later(delay, answer)

    def _end_ussd(self) -> None:
        """Close the USSD session, if one is open: its answer never comes."""
        if self._ussd_timer is not None:
            self._ussd_timer.cancel()
            self._ussd_timer = None
        self._ussd_open = False
