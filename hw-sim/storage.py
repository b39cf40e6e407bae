"""Message storage: AT+CPMS, reading, listing, writing, sending from and deleting stored messages; preloading."""

from __future__ import annotations

from typing import Any

from hwsim import textmode
from hwsim.commands import Cmd, CmsError, PlainError, Prompt, handles, prompt_pdu
from hwsim.core import ModemCore
from hwsim.memory import Memory, Stored, union_memory
from hwsim.pduinfo import PduError, tpdu_octets

STAT_NAMES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")


class StorageRoom(ModemCore):
    """The memories AT+CPMS selects ("MT" joins "SM" and "ME") and the commands on them."""

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

    def _read_memory(self) -> Memory:
        self._need_sim_sms()
        return self._memory(self._settings.mems[0])

    def _cpms_offered(self) -> tuple[str, ...]:
        return self.DIALECT.cpms_memories

    @handles("+CPMS")
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
        # a family that keeps status reports in "SR" reads them there even when AT+CPMS=? does not list it
        readable = (*offered, "SR") if self.DIALECT.status_report_memory == "SR" else offered
        if (not 1 <= len(names) <= 3 or names[0] not in readable
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

    @handles("+CMGL")
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

    @handles("+CMGR")
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

    @handles("+CMGD")
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

    @handles("+CMGW")
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
            pdu = prompt_pdu(body, length)
            index = mem.free_index()
            if index is None:
                raise CmsError(322)
            mem.slots[index] = Stored(index, stat, pdu)
            return [f"+CMGW: {index}"]
        return Prompt(store, cmd.text)

    @handles("+CMSS")
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
