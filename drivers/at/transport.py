"""Bytes over any pyserial URL; a read returns once bytes arrive, with all that are waiting."""

from __future__ import annotations

import contextlib
from typing import Protocol

import serial

from simhost_drivers.at.errors import ConnectionLostError, PortOpenError

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
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=IDLE_POLL_S,
                                               write_timeout=None)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortOpenError(f"{self.name}: cannot open {url}: {exc}") from exc

    def read_chunk(self) -> bytes:
        try:
            first = self._port.read(1)
            if not first:
                return b""
            waiting = self._port.in_waiting
            return first + self._port.read(waiting) if waiting else first
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # pyserial raises TypeError/AttributeError when the port was closed under a read.
            raise ConnectionLostError(f"{self.name}: read failed: {exc}") from exc

    def write(self, data: bytes) -> None:
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

