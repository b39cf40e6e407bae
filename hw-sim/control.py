"""The bank's control socket: JSON lines over a Unix socket, served by the event loop; and its client."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from hwsim.loop import EventLoop
from hwsim.modem import VirtualModem
from hwsim.ports import PortDirectory

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20
RECV_BYTES = 65536
CLIENT_TIMEOUT_S = 30.0


class ControlError(Exception):
    """A request the bank refused; the message is one line for the operator."""


class _Connection:
    def __init__(self, server: ControlServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()

    def readable(self) -> None:
        try:
            data = self.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, _, rest = bytes(self.inbuf).partition(b"\n")
            self.inbuf = bytearray(rest)
            self.send(self.server.handle_line(line))
        if len(self.inbuf) > MAX_REQUEST_BYTES:
            self.send({"ok": False, "error": "request too long"})
            self.inbuf.clear()

    def send(self, reply: dict[str, Any]) -> None:
        self.outbuf += json.dumps(reply, ensure_ascii=False).encode() + b"\n"
        self.writable()

    def writable(self) -> None:
        try:
            n = self.sock.send(self.outbuf)
        except BlockingIOError:
            n = 0
        except OSError:
            self.close()
            return
        del self.outbuf[:n]
        fd = self.sock.fileno()
        self.server.loop.set_handlers(fd, self.readable, self.writable if self.outbuf else None)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.server.loop.set_handlers(self.sock.fileno(), None, None)
            self.sock.close()
        self.server.connections.discard(self)


class ControlServer:
    """Serves DIR/control.sock in the bank's event loop."""

    def __init__(self, bank: PortDirectory, loop: EventLoop, path: Path) -> None:
        self.bank = bank
        self.loop = loop
        self.path = path
        self.sock: socket.socket | None = None
        self.connections: set[_Connection] = set()

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            sock.listen(16)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.loop.set_handlers(sock.fileno(), self._accept, None)

    def close(self) -> None:
        for conn in list(self.connections):
            conn.close()
        if self.sock is not None:
            self.loop.set_handlers(self.sock.fileno(), None, None)
            self.sock.close()
            self.sock = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self) -> None:
        assert self.sock is not None
        try:
            sock, _ = self.sock.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        conn = _Connection(self, sock)
        self.connections.add(conn)
        self.loop.set_handlers(sock.fileno(), conn.readable, None)

    def handle_line(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ControlError("a request is a JSON object")
            return {"ok": True, "result": self.handle(request)}
        except (ControlError, ValueError, KeyError, TypeError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return {"ok": False, "error": str(message)}
        except Exception as exc:
            log.exception("control request failed")
            return {"ok": False, "error": f"internal error: {exc}"}

    def handle(self, req: dict[str, Any]) -> Any:
        cmd = req.get("cmd")
        if cmd == "info":
            return self.bank.info
        if cmd == "ping":
            return "pong"
        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "sms": self._sms, "pdu": self._pdu, "call": self._call, "calls": self._calls,
            "slot": self._slot, "fault": self._fault, "state": self._state, "store": self._store,
            "report": self._report, "ussd": self._ussd, "where": self._where, "locate": self._locate,
            "usb-reset": self._usb_reset, "power-cycle": self._power_cycle,
        }
        handler = handlers.get(str(cmd))
        if handler is None:
            raise ControlError(f"unknown command {cmd!r} (known: info, ping, {', '.join(handlers)})")
        return handler(req)

    def _modem(self, req: dict[str, Any]) -> VirtualModem:
        name = req.get("port")
        if not isinstance(name, str):
            raise ControlError("the request needs a \"port\" (e.g. port01)")
        return self.bank.port(name)

    def _sms(self, req: dict[str, Any]) -> Any:
        scts = req.get("scts")
        when = datetime.fromisoformat(scts) if scts else None
        klass = req.get("class")
        return self._modem(req).sms(
            str(req["sender"]), str(req["text"]), encoding=str(req.get("encoding", "auto")),
            concat_bits=int(req.get("concat", 8)), message_class=None if klass is None else int(klass),
            scts=when, smsc=req.get("smsc"), slot=None if req.get("slot") is None else int(req["slot"]))

    def _store(self, req: dict[str, Any]) -> Any:
        scts = req.get("scts")
        return self._modem(req).store(
            str(req["memory"]), str(req["sender"]), str(req.get("text") or ""), stat=int(req.get("stat", 0)),
            encoding=str(req.get("encoding", "auto")), scts=datetime.fromisoformat(scts) if scts else None)

    def _pdu(self, req: dict[str, Any]) -> Any:
        self._modem(req).pdu(str(req["hex"]))
        return None

    def _call(self, req: dict[str, Any]) -> Any:
        withheld = bool(req.get("withheld", False))
        caller = req.get("caller")
        return self._modem(req).call(None if withheld else caller, rings=int(req.get("rings", 3)),
                                     withheld=withheld)

    def _calls(self, req: dict[str, Any]) -> Any:
        return self._modem(req).calls()

    def _slot(self, req: dict[str, Any]) -> Any:
        self._modem(req).slot(int(req["slot"]))
        return None

    def _fault(self, req: dict[str, Any]) -> Any:
        args = req.get("args") or []
        if not isinstance(args, list):
            raise ControlError("\"args\" is a list of strings")
        self._modem(req).fault(str(req["kind"]), *[str(a) for a in args])
        return None

    def _report(self, req: dict[str, Any]) -> Any:
        to = req.get("to")
        self._modem(req).report(str(req["outcome"]), to=None if to is None else str(to))
        return None

    def _ussd(self, req: dict[str, Any]) -> Any:
        delay, slot = req.get("delay"), req.get("slot")
        return self._modem(req).ussd(str(req["reply"]), code=str(req.get("code") or "*"),
                                     delay_s=None if delay is None else float(delay),
                                     encoding=str(req.get("encoding") or "auto"),
                                     slot=None if slot is None else int(slot))

    def _state(self, req: dict[str, Any]) -> Any:
        return self._modem(req).state()

    # The physical side, addressed as a host addresses it: a tty by its path, a device by its USB location.

    def _located(self, req: dict[str, Any]) -> VirtualModem:
        location = req.get("location")
        if not isinstance(location, str):
            raise ControlError("the request needs a \"location\" (a USB location such as 1-1.3)")
        return self.bank.at(location)

    def _where(self, req: dict[str, Any]) -> Any:
        modem = self.bank.where(str(req["path"]))
        return {"location": modem.location, "port": modem.name}

    def _locate(self, req: dict[str, Any]) -> Any:
        modem = self._located(req)
        return {"paths": [modem.path] if Path(modem.path).exists() else [], "port": modem.name}

    def _usb_reset(self, req: dict[str, Any]) -> Any:
        self._located(req).usb_reset()
        return None

    def _power_cycle(self, req: dict[str, Any]) -> Any:
        self._located(req).power_cycle()
        return None


def request(directory: str | Path, payload: dict[str, Any], timeout_s: float = CLIENT_TIMEOUT_S) -> Any:
    """Send one request to DIR/control.sock; the result, or ControlError with the bank's message."""
    path = Path(directory) / "control.sock"
    if not path.exists():
        raise ControlError(f"no bank is running in {directory} ({path} does not exist)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except OSError as exc:
            raise ControlError(f"cannot reach the bank at {path}: {os.strerror(exc.errno or 0)}") from None
        sock.sendall(json.dumps(payload).encode() + b"\n")
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                raise ControlError("the bank closed the connection without answering")
            buf += chunk
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "unknown error")))
    return reply.get("result")
