"""Bytes over any pyserial URL; a read returns once bytes arrive, with all that are waiting."""

from __future__ import annotations

import contextlib
import errno
import os
import select
from typing import Protocol

import serial

from simhost_drivers.at.errors import ConnectionLostError, PortBusyError, PortOpenError

DEFAULT_BAUDRATE = 115200
# Only bounds how long an idle reader takes to notice close() on transports without cancel_read;
# a read returns as soon as the first byte arrives, so this adds no latency to replies.
IDLE_POLL_S = 0.5


class Transport(Protocol):
    """What the AT channel needs from a byte stream."""

    name: str

    def read_chunk(self) -> bytes:
        """Block until a byte arrives (then return all waiting) or the idle poll ends (b"")."""

    def write(self, data: bytes) -> None: ...

    def cancel_read(self) -> None:
        """Make a blocked read_chunk return soon (used by close)."""

    def close(self) -> None: ...


def port_name_from_url(url: str) -> str:
    """A short port name for logs: the URL's last path element (`/dev/serial/by-id/x` -> `x`)."""
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail or url


class SerialTransport:
    """A pyserial port opened with `serial.serial_for_url` (device paths, pty paths, socket://, spy://...)."""

    def __init__(
        self, url: str, *, baudrate: int = DEFAULT_BAUDRATE, name: str | None = None
    ) -> None:
        self.url = url
        self.name = name or port_name_from_url(url)
        # A device node is locked (flock) while open: a second gateway, or a process of a restarted one that
        # is still going, cannot read the same modem and split its messages between them.
        exclusive = True if "://" not in url else None
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=IDLE_POLL_S,
                                               write_timeout=None, exclusive=exclusive)
        except (serial.SerialException, OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise PortBusyError(f"{self.name}: {url} is locked by another process") from exc
            raise PortOpenError(f"{self.name}: cannot open {url}: {exc}") from exc

        # pyserial's POSIX port waits with select(), which fails for descriptors numbered 1024 and above,
        # so a gateway with a few hundred ports would lose the last ones. Those ports are read and
        # written here with poll() on the same descriptor instead.
        fd = getattr(self._port, "fd", None)
        abort = getattr(self._port, "pipe_abort_read_r", None)
        plain = type(self._port) is serial.Serial  # not spy:// or another wrapper that must see the bytes
        self._fd: int | None = fd if plain and isinstance(fd, int) and isinstance(abort, int) else None
        self._abort_r: int | None = abort if self._fd is not None else None
        self._poll: select.poll | None = None
        if self._fd is not None and self._abort_r is not None:
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN | select.POLLERR | select.POLLHUP)
            self._poll.register(self._abort_r, select.POLLIN)

    def read_chunk(self) -> bytes:
        if self._poll is not None:
            return self._read_polled()
        try:
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + self._port.read(waiting) if waiting else first
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # pyserial raises TypeError/AttributeError when the port was closed under a read.
            raise ConnectionLostError(f"{self.name}: read failed: {exc}") from exc

    def _read_polled(self) -> bytes:
        assert self._poll is not None
        assert self._fd is not None
        assert self._abort_r is not None
        abort = self._abort_r
        try:
            events = self._poll.poll(IDLE_POLL_S * 1000)
            if not events:
                return b""
            # this runs for every few bytes a modem sends: no set built per call
            if any(fd == abort for fd, _mask in events):
                with contextlib.suppress(OSError):
                    os.read(abort, 1000)
                return b""
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return b""
            if not data:
                # readable but nothing to read: the device went away (pty master closed, USB unplugged)
                raise ConnectionLostError(f"{self.name}: device reports readiness to read but returned no data")
            return data
        except OSError as exc:
            raise ConnectionLostError(f"{self.name}: read failed: {exc}") from exc

    def _write_polled(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        waiter: select.poll | None = None  # made only when the line is backed up (rare: commands are short)
        try:
            while view:
                try:
                    n = os.write(self._fd, view)
                    view = view[n:]
                except BlockingIOError:
                    if waiter is None:
                        waiter = select.poll()
                        waiter.register(self._fd, select.POLLOUT)
                    waiter.poll(IDLE_POLL_S * 1000)
                except OSError as exc:
                    if exc.errno != errno.EINTR:
                        raise
        except OSError as exc:
            raise ConnectionLostError(f"{self.name}: write failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        if self._fd is not None:
            self._write_polled(data)
            return
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLostError(f"{self.name}: write failed: {exc}") from exc

    def cancel_read(self) -> None:
        cancel = getattr(self._port, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                cancel()

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()

