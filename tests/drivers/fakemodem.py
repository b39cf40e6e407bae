"""A scripted fake modem on a real pty pair for AT channel tests: answers lines from a script."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty
from collections.abc import Callable
from types import TracebackType

CTRL_Z = b"\x1a"
READ_SIZE = 4096
JOIN_S = 5.0

Script = Callable[["FakeModem", str], None]


def frame(*lines: str) -> bytes:
    """Lines as a modem sends them: each wrapped in CR LF."""
    return b"".join(b"\r\n" + line.encode("ascii") + b"\r\n" for line in lines)


class FakeModem:
    """The modem side of a pty: `path` is the slave the channel opens.

    Commands (terminated by CR) are answered by the script registered with `on()`; unknown
    commands get `ERROR`. A command registered with `prompt=True` gets `> `, then its script
    runs with the payload that ends at Ctrl-Z. `send()` writes raw bytes at any time.
    """

    def __init__(self, *, echo: bool = False) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.echo = echo
        self.commands: list[str] = []
        self.payloads: list[str] = []
        self.received = bytearray()
        self._scripts: dict[str, Script] = {}
        self._prompting: set[str] = set()
        self._cond = threading.Condition()
        self._stop_r, self._stop_w = os.pipe()
        self._buffer = b""
        self._prompt_for: str | None = None
        self._master_open = True
        self._thread = threading.Thread(target=self._run, name="fake-modem", daemon=True)
        self._thread.start()

    # ---- script ---------------------------------------------------------------------------

    def on(self, command: str, *lines: str, prompt: bool = False) -> None:
        """Answer `command` with `lines` (each framed in CR LF)."""
        data = frame(*lines)
        self.on_call(command, lambda modem, _arg: modem.send(data), prompt=prompt)

    def on_call(self, command: str, script: Script, *, prompt: bool = False) -> None:
        """Answer `command` by calling `script(modem, payload_or_command)` on the modem thread."""
        with self._cond:
            self._scripts[command] = script
            if prompt:
                self._prompting.add(command)

    def silent(self, command: str) -> None:
        """Never answer `command`."""
        self.on_call(command, lambda modem, _arg: None)

    def send(self, data: bytes) -> None:
        """Write raw bytes to the channel."""
        with self._cond:
            if self._master_open:
                os.write(self.master, data)

    def wait_for_command(self, command: str, count: int = 1, timeout_s: float = 5.0) -> bool:
        """Wait until `command` has been received `count` times."""
        with self._cond:
            return self._cond.wait_for(lambda: self.commands.count(command) >= count, timeout_s)

    # ---- faults and life cycle ------------------------------------------------------------------

    def unplug(self) -> None:
        """Close the master side: the channel's reads fail as on a USB unplug."""
        self._stop_thread()
        with self._cond:
            if self._master_open:
                self._master_open = False
                os.close(self.master)

    def close(self) -> None:
        self.unplug()
        for fd in (self._slave, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> FakeModem:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _stop_thread(self) -> None:
        if self._thread.is_alive():
            os.write(self._stop_w, b"x")
            self._thread.join(JOIN_S)

    # ---- modem thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self.master, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self.master, READ_SIZE)
            except OSError:
                return
            if not data:
                return
            self._buffer += data
            with self._cond:
                self.received += data
            self._consume()

    def _consume(self) -> None:
        while True:
            if self._prompt_for is not None:
                end = self._buffer.find(CTRL_Z)
                if end < 0:
                    return
                payload = self._buffer[:end].decode("ascii", "replace")
                self._buffer = self._buffer[end + 1:]
                command, self._prompt_for = self._prompt_for, None
                with self._cond:
                    self.payloads.append(payload)
                    prompted_script = self._scripts[command]
                prompted_script(self, payload)
                continue
            end = self._buffer.find(b"\r")
            if end < 0:
                return
            raw, self._buffer = self._buffer[:end], self._buffer[end + 1:]
            command = raw.strip(b"\n\x1b").decode("ascii", "replace").strip()
            if not command:
                continue
            if self.echo:
                self.send(raw + b"\r")
            with self._cond:
                self.commands.append(command)
                self._cond.notify_all()
                script = self._scripts.get(command)
                prompting = command in self._prompting
            if script is None:
                self.send(frame("ERROR"))
            elif prompting:
                self._prompt_for = command
                self.send(b"\r\n> ")
            else:
                script(self, command)
