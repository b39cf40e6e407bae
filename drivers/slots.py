"""Switching a port's active SIM slot behind one interface: the virtual bank's control socket, an operator's
command line for a vendor's bank controller, or none (rotation off)."""

from __future__ import annotations

import json
import shlex
import socket
import string
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

SWITCH_TIMEOUT_S = 30.0
PLACEHOLDERS = frozenset({"port", "slot", "url"})
REPLY_MAX = 1 << 16
ERROR_SHOWN_MAX = 200


class SwitchError(Exception):
    """A slot switch that did not happen, or a switcher that cannot be set up; the message is one line."""


class SlotSwitcher(Protocol):
    """Makes `slot` the active SIM slot of the port named `port` (as registered in simhost)."""

    spec: str  # how it was configured, for messages

    def switch(self, port: str, slot: int) -> None:
        """Return once the switch was ordered; SwitchError if it was not."""


class NoSwitcher:
    """Rotation off: every switch is refused."""

    spec = "none"

    def switch(self, port: str, slot: int) -> None:
        raise SwitchError(f"port {port}: no slot switcher is configured (rotation is off)")


def _device_path(url: str) -> Path:
    """The file a port's pyserial URL names (`/dev/x`, `spy:///dev/x`, `file:///dev/x`)."""
    _, sep, rest = url.partition("://")
    return Path(rest if sep else url)


class HwsimSwitcher:
    """The virtual bank's `slot` request on its control socket. The bank's port is the file name of the pty the
    port's URL names (DIR/port01: port01); the socket is `control` (a socket, or the bank's directory), else
    control.sock beside that pty."""

    def __init__(self, urls: Mapping[str, str], control: str | None = None) -> None:
        self.urls = dict(urls)
        self.control = control
        self.spec = "hwsim" + (f":{control}" if control else "")

    def _socket_path(self, device: Path) -> Path:
        if self.control is None:
            return device.parent / "control.sock"
        path = Path(self.control)
        return path / "control.sock" if path.is_dir() else path

    def switch(self, port: str, slot: int) -> None:
        url = self.urls.get(port)
        if url is None:
            raise SwitchError(f"port {port}: unknown to the switcher (no URL)")
        device = _device_path(url)
        path = self._socket_path(device)
        request = {"cmd": "slot", "port": device.name, "slot": slot}
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(SWITCH_TIMEOUT_S)
                sock.connect(str(path))
                sock.sendall(json.dumps(request).encode() + b"\n")
                reply = bytearray()
                while not reply.endswith(b"\n") and len(reply) < REPLY_MAX:
                    chunk = sock.recv(REPLY_MAX)
                    if not chunk:
                        break
                    reply += chunk
        except OSError as exc:
            raise SwitchError(f"port {port}: cannot reach the bank at {path}: {exc.strerror or exc}") from None
        try:
            answer = json.loads(reply)
        except ValueError:
            raise SwitchError(f"port {port}: the bank at {path} answered no JSON line") from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise SwitchError(f"port {port}: the bank refused slot {slot}: {str(error)[:ERROR_SHOWN_MAX]}")


class CommandSwitcher:
    """An operator's command line: each word of `template` with {port}, {slot} and {url} filled in, run without
    a shell (a value cannot split or inject words); exit status 0 means switched."""

    def __init__(self, template: str, urls: Mapping[str, str], timeout_s: float = SWITCH_TIMEOUT_S) -> None:
        self.words = check_template(template)
        self.urls = dict(urls)
        self.timeout_s = timeout_s
        self.spec = f"command:{template}"

    def switch(self, port: str, slot: int) -> None:
        values = {"port": port, "slot": str(slot), "url": self.urls.get(port, "")}
        argv = [word.format(**values) for word in self.words]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise SwitchError(f"port {port}: {argv[0]} did not finish within {self.timeout_s:g} s") from None
        except OSError as exc:
            raise SwitchError(f"port {port}: cannot run {argv[0]}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()
            reason = f": {said[-1][:ERROR_SHOWN_MAX]}" if said else ""
            raise SwitchError(f"port {port}: {argv[0]} exited with status {done.returncode}{reason}")


def check_template(template: str) -> list[str]:
    """The words of a command template; SwitchError unless it parses, names a program and uses only {port},
    {slot} and {url}, {slot} among them."""
    try:
        words = shlex.split(template)
        names = {name for word in words for _, name, _, _ in string.Formatter().parse(word) if name is not None}
    except ValueError as exc:
        raise SwitchError(f"command template {template!r}: {exc}") from None
    if not words:
        raise SwitchError("command template is empty: give a command line, e.g. command:bankctl {port} {slot}")
    unknown = names - PLACEHOLDERS
    if unknown:
        raise SwitchError(f"command template {template!r}: unknown placeholder(s) {', '.join(sorted(unknown))} "
                          f"(known: {{port}}, {{slot}}, {{url}})")
    if "slot" not in names:
        raise SwitchError(f"command template {template!r} does not name the slot: put {{slot}} in it")
    return words


def check_spec(spec: str) -> None:
    """SwitchError unless `spec` is `none`, `hwsim`, `hwsim:PATH` or `command:TEMPLATE`."""
    kind, sep, rest = spec.partition(":")
    if kind == "command" and sep:
        check_template(rest)
    elif not (spec in ("none", "hwsim") or (kind == "hwsim" and rest)):
        raise SwitchError(f"slot switcher {spec!r}: give none, hwsim, hwsim:PATH or command:TEMPLATE")


def open_switcher(spec: str, urls: Mapping[str, str]) -> SlotSwitcher:
    """The switcher `spec` names, for ports whose URLs (by port name) are `urls`."""
    check_spec(spec)
    kind, _, rest = spec.partition(":")
    if kind == "command":
        return CommandSwitcher(rest, urls)
    if kind == "hwsim":
        return HwsimSwitcher(urls, rest or None)
    return NoSwitcher()
