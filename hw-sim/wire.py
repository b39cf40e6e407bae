"""The wire: bytes in, command lines dispatched to handlers, responses, final texts and unsolicited lines out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from hwsim.commands import AtError, Cmd, CmeError, CmsError, FinalError, PlainError, Prompt, handles, split_command_line
from hwsim.core import ModemCore

CTRL_Z = 0x1A
ESC = 0x1B
CR = 0x0D
LF = 0x0A
BACKSPACE = 0x08
MAX_LINE_BYTES = 4096
AT_LOG_ENTRIES = 5000
GARBAGE_MIN_BYTES = 4
GARBAGE_MAX_BYTES = 24
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


class WireRoom(ModemCore):
    """Echo, the AT log, the "> " prompt, result codes in words or numbers (ATV0), and held URCs."""

    SMS_COMMANDS: ClassVar[frozenset[str]] = frozenset(
        {"+CMGL", "+CMGR", "+CMGD", "+CMGS", "+CMGW", "+CMSS", "+CPMS", "+CNMA"})

    def _log(self, direction: str, data: bytes) -> None:
        self._at_log.append({"t": time.time(), "dir": direction,
                             "data": data.decode("utf-8", "backslashreplace")})

    def _write_raw(self, data: bytes) -> None:
        if not self._port.is_open or self._faults.stuck:
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

    def _garbage(self) -> bytes:
        n = self._rng.randint(GARBAGE_MIN_BYTES, GARBAGE_MAX_BYTES)
        return bytes(self._rng.choice([b for b in range(256) if b not in (CR, LF)]) for _ in range(n))

    def _on_bytes(self, data: bytes) -> None:
        if not self._powered or self._booting or self._faults.hang:
            self._log("rx", data)
            self._changed()
            return
        if self._faults.wedge is not None:
            self._wedged_bytes(data)
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

    def _wedged_bytes(self, data: bytes) -> None:
        """A wedged modem reads lines but answers none, except the family's reset command when that is what the
        wedge waits for: it answers OK and restarts."""
        self._log("rx", data)
        for b in data:
            if b == CR:
                line = self._line.decode("latin-1").strip().upper()
                self._line.clear()
                if self._faults.wedge == "reset" and line in self.DIALECT.reset_commands:
                    self._faults.unwedge("reset")
                    self._respond([], "OK")
                    self._later(0.0, self._reboot)
            elif b != LF and len(self._line) < MAX_LINE_BYTES:
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

    @handles("")
    def _at(self, cmd: Cmd) -> list[str]:
        return []

    @handles("E")
    def _ate(self, cmd: Cmd) -> list[str]:
        self._settings.echo = cmd.int_param(0, 0, 1, 0) == 1 if cmd.arg else False
        return []

    @handles("V")
    def _atv(self, cmd: Cmd) -> list[str]:
        self._settings.verbose = cmd.int_param(0, 0, 1, 0) == 1 if cmd.arg else False
        return []

    @handles("Q")
    def _atq(self, cmd: Cmd) -> list[str]:
        self._settings.quiet = cmd.int_param(0, 0, 1, 0) == 1 if cmd.arg else False
        return []
