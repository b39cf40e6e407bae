"""The AT channel: one command in flight, final codes, URCs dispatched while a command waits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from simhost_drivers.at.codes import (
    CALL_PROGRESS_FINALS,
    CONNECTION_COMMANDS,
    STANDARD_FINALS,
    FinalCode,
    error_for_final,
    is_coded_error,
)
from simhost_drivers.at.errors import (
    AtError,
    CommandInterruptedError,
    CommandTimeoutError,
    ConnectionLostError,
    ResponseError,
)
from simhost_drivers.at.framing import Junk, Line, LineFramer, Prompt
from simhost_drivers.at.trace import trace_bytes, wire_logger
from simhost_drivers.at.transport import DEFAULT_BAUDRATE, IDLE_POLL_S, SerialTransport, Transport

DEFAULT_TIMEOUT_S = 5.0
RESYNC_TIMEOUT_S = 3.0
CLOSE_JOIN_S = 4 * IDLE_POLL_S
CTRL_Z = "\x1a"
ESC = "\x1b"

# After a timeout the channel sends a probe and discards everything up to the probe's own
# information line and final code. A plain AT would not do: its OK cannot be told from a late
# OK of the command that timed out. Drivers never send these queries, so only a probe's reply
# carries its information line. Successive attempts take turns, so that after a modem that
# hung (and dropped some probes) wakes up, the reply of an earlier probe is not taken for the
# reply of the current one.
RESYNC_PROBES: tuple[tuple[str, str], ...] = (
    ("AT+CMEE?", "+CMEE:"),
    ("AT+CMGF?", "+CMGF:"),
    ("AT+CSCS?", "+CSCS:"),
)

CODED_ERROR = FinalCode("+CME/+CMS ERROR", False)

UrcHandler = Callable[[str, str | None], None]
"""Called from the reader thread with the unsolicited line and, for two-line URCs, the PDU line."""


@dataclass(frozen=True)
class Response:
    """A successful command's information lines; `pdus[i]` is the PDU line after `lines[i]`; `final_at` is when
    the final result code was read (time.monotonic() on the reader thread)."""

    command: str
    final: str
    lines: tuple[str, ...] = ()
    pdus: tuple[str | None, ...] = ()
    final_at: float = 0.0

    def values(self, prefix: str) -> list[str]:
        """The text after `prefix` of every line starting with it, stripped."""
        return [line[len(prefix):].strip() for line in self.lines if line.startswith(prefix)]

    def value(self, prefix: str) -> str:
        """The text after `prefix` of the first line starting with it (ResponseError if none)."""
        found = self.values(prefix)
        if not found:
            raise ResponseError(f"{self.command}: no {prefix} line in {list(self.lines)!r}")
        return found[0]


@dataclass(frozen=True)
class _Route:
    prefix: str
    handler: UrcHandler
    pdu: bool


@dataclass
class _Pending:
    command: str
    expect: tuple[str, ...] | None
    pdu: bool = False
    prompt: bool = False
    resync_prefix: str | None = None
    lines: list[str] = field(default_factory=list)
    pdus: list[str | None] = field(default_factory=list)
    prompted: bool = False
    final: str | None = None
    code: FinalCode | None = None
    interrupted: str | None = None
    final_at: float = 0.0

    @property
    def connects(self) -> bool:
        """Whether a call-progress result (NO CARRIER, BUSY, ...) can be this command's final result."""
        return self.command.upper().startswith(CONNECTION_COMMANDS)


_Call = tuple[_Route, str, str | None]

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _is_pdu(text: str) -> bool:
    return len(text) % 2 == 0 and bool(text) and set(text) <= _HEX_DIGITS


class AtChannel:
    """Sends AT commands one at a time and reads every line the modem sends on a reader thread.

    `command()` is called from one or more worker threads (serialised by a lock); URC handlers run
    on the reader thread and must be quick and must not send commands. A line belongs to the
    pending command's response only if it matches one of its expected prefixes (or, for a
    command with bare answers, `expect=None`, if no URC route claims it); every other line is
    unsolicited. I/O failures close the channel and call `on_connection_lost` once; a failing
    URC handler is logged and the channel carries on.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        on_connection_lost: Callable[[ConnectionLostError], None] | None = None,
        finals: Iterable[FinalCode] = (),
        probes: Sequence[tuple[str, str]] = RESYNC_PROBES,
        resync_timeout_s: float = RESYNC_TIMEOUT_S,
    ) -> None:
        self.name = transport.name
        self.on_connection_lost = on_connection_lost
        self.consecutive_timeouts = 0
        self.junk_bytes = 0
        # when the last command's final result code was read (time.monotonic() on the reader thread, so it
        # orders exactly with the stamps URC handlers take)
        self.last_final_at = 0.0
        self._transport = transport
        if not probes:
            raise ValueError("at least one resynchronisation probe is needed")
        self._probes = tuple(probes)
        self._probe_turn = 0
        self._resync_timeout_s = resync_timeout_s
        self._log = logging.getLogger(f"{__name__}.{self.name.replace('.', '_')}")
        self._wire = wire_logger(self.name)
        self._finals: dict[str, FinalCode] = {f.text: f for f in (*STANDARD_FINALS, *finals)}
        self._routes: tuple[_Route, ...] = ()
        self._vendor_routes: tuple[_Route, ...] = ()
        self._framer = LineFramer()
        self._cond = threading.Condition()
        self._cmd_lock = threading.Lock()
        self._stopping = threading.Event()
        self._pending: _Pending | None = None
        self._closed: ConnectionLostError | None = None
        self._urc_waiting: tuple[_Route, str] | None = None
        self._response_pdu_for: _Pending | None = None
        self._needs_resync = False
        self._cancel_prompt = False
        self._probe_seen = False
        self._reader = threading.Thread(target=self._read_loop, name=f"at-reader-{self.name}",
                                        daemon=True)
        self._reader.start()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        name: str | None = None,
        baudrate: int = DEFAULT_BAUDRATE,
        finals: Iterable[FinalCode] = (),
        resync_timeout_s: float = RESYNC_TIMEOUT_S,
    ) -> AtChannel:
        """Open `url` with `serial.serial_for_url` and start reading (PortOpenError on failure)."""
        return cls(SerialTransport(url, baudrate=baudrate, name=name), finals=finals,
                   resync_timeout_s=resync_timeout_s)

    def __enter__(self) -> AtChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- configuration ---------------------------------------------------------------------

    def add_final_codes(self, finals: Iterable[FinalCode]) -> None:
        """Add final result codes (a driver's declared extras such as `COMMAND NOT SUPPORT`)."""
        with self._cond:
            merged = dict(self._finals)
            merged.update({f.text: f for f in finals})
            self._finals = merged

    def register_urc(
        self, prefix: str, handler: UrcHandler, *, pdu: bool = False, vendor: bool = False
    ) -> None:
        """Route unsolicited lines starting with `prefix` to `handler`.

        With `pdu`, the handler is called once the next line (the PDU) has arrived. Vendor routes
        are tried before generic ones; within each, the longest prefix wins.
        """
        if not prefix:
            raise ValueError("a URC prefix must not be empty")
        route = _Route(prefix, handler, pdu)
        with self._cond:
            if vendor:
                self._vendor_routes = self._sorted((*self._vendor_routes, route))
            else:
                self._routes = self._sorted((*self._routes, route))

    def ignore(self, prefixes: Iterable[str]) -> None:
        """Drop unsolicited lines starting with any of `prefixes` (vendor noise; debug log)."""
        for prefix in prefixes:
            self.register_urc(prefix, self._noise, vendor=True)

    @staticmethod
    def _sorted(routes: Iterable[_Route]) -> tuple[_Route, ...]:
        return tuple(sorted(routes, key=lambda r: len(r.prefix), reverse=True))

    def _noise(self, line: str, pdu: str | None) -> None:
        self._log.debug("%s: ignored vendor line %r", self.name, line)

    # ---- commands --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def command(
        self,
        command: str,
        *,
        expect: Sequence[str] | None = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        pdu: bool = False,
    ) -> Response:
        """Send `command` and wait for its final result code.

        `expect`: prefixes of the information lines (e.g. `("+CSQ:",)`); `None` for bare answers
        such as AT+CGSN's; `()` when no information line is expected. With `pdu`, each
        information line may be followed by a PDU line (AT+CMGL, AT+CMGR in PDU mode).
        Raises CommandError (by final code), CommandTimeoutError or ConnectionLostError.
        """
        return self._execute(command, expect, timeout_s, pdu, None)

    def command_with_prompt(
        self,
        command: str,
        payload: str,
        *,
        expect: Sequence[str] | None = (),
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> Response:
        """Send `command`, wait for the `> ` prompt, send `payload` and Ctrl-Z (AT+CMGS, CMGW)."""
        if not payload.isascii() or any(c in payload for c in "\r\n" + CTRL_Z + ESC):
            raise ValueError("a prompt payload must be ASCII without CR, LF, Ctrl-Z or ESC")
        return self._execute(command, expect, timeout_s, False, payload)

    def _execute(
        self,
        command: str,
        expect: Sequence[str] | None,
        timeout_s: float,
        pdu: bool,
        payload: str | None,
    ) -> Response:
        if not command or not command.isascii() or any(c in command for c in "\r\n"):
            raise ValueError(f"not a single ASCII AT command line: {command!r}")
        with self._cmd_lock:
            self._raise_if_closed()
            if self._needs_resync:
                self._resync()
            pending = _Pending(command, None if expect is None else tuple(expect), pdu=pdu,
                               prompt=payload is not None)
            with self._cond:
                self._raise_if_closed()
                self._pending = pending
                self._framer.expect_prompt = payload is not None
            deadline = time.monotonic() + timeout_s
            try:
                self._write(command + "\r")
                if payload is not None:
                    self._wait(lambda: pending.prompted or pending.final is not None, deadline)
                    if pending.prompted and pending.final is None and self._closed is None:
                        self._write(payload + CTRL_Z)
                self._wait(lambda: pending.final is not None or pending.interrupted is not None, deadline)
            finally:
                with self._cond:
                    if self._pending is pending:
                        self._pending = None
                    self._framer.expect_prompt = False
            if pending.final is None and pending.interrupted is not None:
                self._raise_if_closed()
                self._needs_resync = True
                raise CommandInterruptedError(command, pending.interrupted)
            if pending.final is None:
                self._raise_if_closed()
                self._after_timeout(pending)
                self._raise_if_closed()
                raise CommandTimeoutError(command, timeout_s)
            self.consecutive_timeouts = 0
            if pending.code is None or not pending.code.success:
                raise error_for_final(command, pending.final, pending.code)
            return Response(command, pending.final, tuple(pending.lines), tuple(pending.pdus), pending.final_at)

    def interrupt(self, reason: str) -> None:
        """Give up the command in flight now (it raises CommandInterruptedError) instead of at its timeout:
        for a handler that knows its answer will never come, such as one for a modem's boot banner."""
        with self._cond:
            pending = self._pending
            if pending is not None and pending.final is None:
                pending.interrupted = reason
                self._cond.notify_all()

    def _wait(self, predicate: Callable[[], bool], deadline: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: predicate() or self._closed is not None,
                                max(0.0, deadline - time.monotonic()))

    def _raise_if_closed(self) -> None:
        closed = self._closed
        if closed is not None:
            raise ConnectionLostError(str(closed)) from closed

    def _write(self, text: str) -> None:
        data = text.encode("ascii")
        trace_bytes(self._wire, "tx", data)
        try:
            self._transport.write(data)
        except ConnectionLostError as exc:
            self._lost(exc)
            raise

    def _after_timeout(self, pending: _Pending) -> None:
        self.consecutive_timeouts += 1
        self._needs_resync = True
        self._cancel_prompt = self._cancel_prompt or pending.prompt
        self._log.warning("%s: %s timed out (%d in a row); resynchronising", self.name,
                          pending.command, self.consecutive_timeouts)
        try:
            self._resync()
        except AtError as exc:
            self._log.warning("%s: resynchronisation failed: %s", self.name, exc)

    def _resync(self) -> None:
        """Send the next probe and discard everything up to its reply (command lock held)."""
        if self._cancel_prompt:
            self._write(ESC)
            self._cancel_prompt = False
        command, prefix = self._probes[self._probe_turn % len(self._probes)]
        self._probe_turn += 1
        pending = _Pending(command, (), resync_prefix=prefix)
        with self._cond:
            self._raise_if_closed()
            self._probe_seen = False
            self._pending = pending
        deadline = time.monotonic() + self._resync_timeout_s
        try:
            self._write(command + "\r")
            self._wait(lambda: pending.final is not None, deadline)
        finally:
            with self._cond:
                if self._pending is pending:
                    self._pending = None
        self._raise_if_closed()
        if pending.final is None:
            raise CommandTimeoutError(command, self._resync_timeout_s, "resynchronisation")
        self._needs_resync = False
        self._log.info("%s: channel resynchronised", self.name)

    # ---- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the reader, close the port; pending and later commands raise ConnectionLostError."""
        self._stopping.set()
        with self._cond:
            if self._closed is None:
                self._closed = ConnectionLostError(f"{self.name}: channel closed")
            self._cond.notify_all()
        self._transport.cancel_read()
        if threading.current_thread() is not self._reader:
            self._reader.join(CLOSE_JOIN_S)
            if self._reader.is_alive():
                self._log.warning("%s: reader thread did not stop within %g s", self.name,
                                  CLOSE_JOIN_S)
        self._transport.close()

    def _lost(self, exc: ConnectionLostError) -> None:
        with self._cond:
            if self._closed is not None:
                return
            self._closed = exc
            self._cond.notify_all()
        if self._stopping.is_set():
            return
        self._log.warning("%s: connection lost: %s", self.name, exc)
        callback = self.on_connection_lost
        if callback is not None:
            try:
                callback(exc)
            except Exception:
                self._log.exception("%s: connection-lost callback failed", self.name)

    # ---- reader thread ---------------------------------------------------------------------

    def _read_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                data = self._transport.read_chunk()
            except ConnectionLostError as exc:
                self._lost(exc)
                return
            except Exception as exc:
                self._lost(ConnectionLostError(f"{self.name}: read failed: {exc!r}"))
                return
            if not data:
                continue
            trace_bytes(self._wire, "rx", data)
            try:
                self._process(data)
            except Exception:
                self._log.exception("%s: internal error while processing %r", self.name, data)

    def _process(self, data: bytes) -> None:
        calls: list[_Call] = []
        with self._cond:
            for event in self._framer.feed(data):
                if isinstance(event, Line):
                    calls.extend(self._on_line(event.text))
                elif isinstance(event, Prompt):
                    self._on_prompt()
                elif isinstance(event, Junk):
                    self.junk_bytes += len(event.data)
                    self._log.debug("%s: dropped junk %r", self.name, event.data)
        for route, line, pdu in calls:
            try:
                route.handler(line, pdu)
            except Exception:
                self._log.exception("%s: handler for %r failed on %r", self.name, route.prefix,
                                    line)

    def _on_prompt(self) -> None:
        pending = self._pending
        if pending is not None and pending.prompt and not pending.prompted:
            pending.prompted = True
            self._framer.expect_prompt = False
            self._cond.notify_all()
        else:
            self._log.debug("%s: stray prompt", self.name)

    def _final(self, text: str) -> FinalCode | None:
        code = self._finals.get(text)
        if code is None and is_coded_error(text):
            return CODED_ERROR
        return code

    def _route(self, text: str) -> _Route | None:
        for routes in (self._vendor_routes, self._routes):
            for route in routes:
                if text.startswith(route.prefix):
                    return route
        return None

    def _on_line(self, text: str) -> list[_Call]:
        """Classify one line (condition lock held); returns the URC handler calls to make."""
        calls: list[_Call] = []
        if self._urc_waiting is not None:
            route, header = self._urc_waiting
            if _is_pdu(text):
                self._urc_waiting = None
                return [(route, header, text)]
            between = self._interloper(text)
            if between is not None:
                return [(between, text, None)]
            self._urc_waiting = None
            self._log.warning("%s: %r was not followed by a PDU line (got %r)", self.name, header,
                              text)
            calls.append((route, header, None))
        if self._response_pdu_for is not None:
            owner = self._response_pdu_for
            if owner is self._pending and _is_pdu(text):
                self._response_pdu_for = None
                owner.pdus[-1] = text
                return calls
            between = self._interloper(text)
            if owner is self._pending and between is not None and not self._is_response_line(owner, text):
                calls.append((between, text, None))
                return calls
            self._response_pdu_for = None
        pending = self._pending
        if pending is not None and pending.resync_prefix is not None:
            if self._on_probe_line(pending, pending.resync_prefix, text):
                return calls
        elif pending is not None and pending.final is None:
            if text == pending.command:
                return calls
            code = self._final(text)
            if code is not None and (pending.connects or text not in CALL_PROGRESS_FINALS):
                pending.final, pending.code = text, code
                pending.final_at = self.last_final_at = time.monotonic()
                self._cond.notify_all()
                return calls
            if code is None and self._is_response_line(pending, text):
                pending.lines.append(text)
                pending.pdus.append(None)
                if pending.pdu:
                    self._response_pdu_for = pending
                return calls
        found = self._route(text)
        if found is None:
            if self._final(text) is not None:
                self._log.debug("%s: dropped final %r with no command pending", self.name, text)
            else:
                self._log.debug("%s: unsolicited line with no handler: %r", self.name, text)
        elif found.pdu:
            self._urc_waiting = (found, text)
        else:
            calls.append((found, text, None))
        return calls

    def _interloper(self, text: str) -> _Route | None:
        """The route of a one-line URC that came between a header and its PDU line, if `text` is one."""
        if self._final(text) is not None:
            return None
        route = self._route(text)
        return route if route is not None and not route.pdu else None

    def _on_probe_line(self, pending: _Pending, prefix: str, text: str) -> bool:
        if text.startswith(prefix):
            self._probe_seen = True
            return True
        if text == pending.command:
            return True
        if self._final(text) is None:
            return False
        if self._probe_seen:
            pending.final = text
            self._cond.notify_all()
        else:
            self._log.debug("%s: discarded late final %r while resynchronising", self.name, text)
        return True

    def _is_response_line(self, pending: _Pending, text: str) -> bool:
        if pending.expect is None:
            return self._route(text) is None
        return any(text.startswith(prefix) for prefix in pending.expect)


__all__ = ["DEFAULT_TIMEOUT_S", "RESYNC_PROBES", "AtChannel", "Response", "UrcHandler"]
