"""The bank's transport: one selector thread with a timer heap serving every pty master, and the pty ports."""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import os
import selectors
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

READ_CHUNK_BYTES = 4096
# Output a client is not reading is dropped past this much (a real serial line drops it too).
OUT_BUFFER_CAP_BYTES = 64 * 1024
BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit
PACING_SLICE_S = 0.002
RUN_SYNC_TIMEOUT_S = 30.0


class Timer:
    """A scheduled call; cancel() stops it if it has not run."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """A selector plus a timer heap in one thread; everything else hands work to it."""

    def __init__(self, name: str = "hwsim-loop") -> None:
        self.name = name
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._pending: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._handlers: dict[int, tuple[Callable[[], None] | None, Callable[[], None] | None]] = {}

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("event loop already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the calls already handed to it) and close the selector."""
        if self._thread is not None and self._thread.is_alive():
            self._stopping = True
            self._wake()
            self._thread.join()
        self._thread = None
        if self._wake_r >= 0:
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    # ---- scheduling -----------------------------------------------------------------------

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` in the loop thread after `delay_s` (call from the loop thread or before start)."""
        timer = Timer(time.monotonic() + max(0.0, delay_s), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._pending.append(callback)
        self._wake()

    def run_sync(self, fn: Callable[[], T], timeout_s: float = RUN_SYNC_TIMEOUT_S) -> T:
        """Run `fn` in the loop thread and return its result (directly when already there or not running)."""
        if not self.running or self.in_loop_thread():
            return fn()
        future: Future[T] = Future()

        def task() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)
        self.call_soon_threadsafe(task)
        return future.result(timeout=timeout_s)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    # ---- file descriptors (loop thread) ---------------------------------------------------

    def set_handlers(self, fd: int, on_read: Callable[[], None] | None,
                     on_write: Callable[[], None] | None) -> None:
        """Watch `fd` for reading and/or writing; both None stops watching it."""
        events = (selectors.EVENT_READ if on_read else 0) | (selectors.EVENT_WRITE if on_write else 0)
        known = fd in self._handlers
        if events == 0:
            if known:
                self._selector.unregister(fd)
                del self._handlers[fd]
            return
        self._handlers[fd] = (on_read, on_write)
        if known:
            self._selector.modify(fd, events, None)
        else:
            self._selector.register(fd, events, None)

    # ---- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            timeout = self._run_timers()
            try:
                ready = self._selector.select(timeout)
            except InterruptedError:
                continue
            for key, mask in ready:
                fd = int(key.fd)
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, READ_CHUNK_BYTES)
                    continue
                handlers = self._handlers.get(fd)
                if handlers is None:
                    continue
                on_read = handlers[0]
                if mask & selectors.EVENT_READ and on_read is not None:
                    self._guard(on_read)
                # the read handler may have closed the fd
                handlers = self._handlers.get(fd)
                if handlers is not None and mask & selectors.EVENT_WRITE and handlers[1] is not None:
                    self._guard(handlers[1])
            self._run_pending()
        self._run_pending()

    def _run_pending(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                task = self._pending.popleft()
            self._guard(task)

    def _run_timers(self) -> float | None:
        """Run due timers; the time until the next one (None when there is none)."""
        self._run_pending()
        while self._timers:
            when, _, timer = self._timers[0]
            if timer.cancelled:
                heapq.heappop(self._timers)
                continue
            now = time.monotonic()
            if when > now:
                return when - now
            heapq.heappop(self._timers)
            self._guard(timer.callback)
        return None

    @staticmethod
    def _guard(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception:
            log.exception("hwsim event loop: a handler failed")


class PtyPort:
    """One pseudo-terminal: the master served by the loop, the slave kept open, a symlink to the slave.

    Holding the slave open means the master never sees EIO while no client has the port open.
    """

    def __init__(self, loop: EventLoop, link: Path, on_data: Callable[[bytes], None],
                 baud: int | None = None) -> None:
        self.loop = loop
        self.link = link
        self.on_data = on_data
        self.baud = baud
        self.master = -1
        self.slave = -1
        self.slave_name = ""
        self._out = bytearray()
        self._pacer: Timer | None = None
        self._writer_armed = False
        self.dropped_bytes = 0

    @property
    def is_open(self) -> bool:
        return self.master >= 0

    def open(self) -> None:
        """Create a new pty in raw mode without echo and point the symlink at its slave (loop thread)."""
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            attrs = termios.tcgetattr(slave)
            attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON)
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            os.set_blocking(master, False)
            name = os.ttyname(slave)
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(name)
            os.replace(tmp, self.link)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self.master, self.slave, self.slave_name = master, slave, name
        self._out.clear()
        self.loop.set_handlers(master, self._readable, None)

    def close(self, remove_link: bool = True) -> None:
        """Close both ends (a client then gets an I/O error) and remove the symlink (loop thread)."""
        if self._pacer is not None:
            self._pacer.cancel()
            self._pacer = None
        if self.master >= 0:
            self.loop.set_handlers(self.master, None, None)
            os.close(self.master)
            self.master = -1
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1
        self._writer_armed = False
        self._out.clear()
        if remove_link:
            with contextlib.suppress(FileNotFoundError):
                if self.link.is_symlink():
                    self.link.unlink()

    def write(self, data: bytes) -> None:
        """Queue bytes for the client (loop thread); paced at the baud rate when one is set."""
        if self.master < 0 or not data:
            return
        self._out += data
        if len(self._out) > OUT_BUFFER_CAP_BYTES:
            excess = len(self._out) - OUT_BUFFER_CAP_BYTES
            del self._out[:excess]
            self.dropped_bytes += excess
        self._flush()

    def pending_bytes(self) -> int:
        return len(self._out)

    def _flush(self) -> None:
        if self.master < 0 or not self._out:
            return
        if self.baud:
            if self._pacer is None:
                self._paced_step()
            return
        self._write_now(len(self._out))

    def _write_now(self, limit: int) -> int:
        try:
            n = os.write(self.master, bytes(self._out[:limit]))
        except BlockingIOError:
            n = 0
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.EAGAIN):
                raise
            n = 0
        del self._out[:n]
        if n < limit and not self._writer_armed:
            # the client is not reading: wait until the pty has room again
            self._writer_armed = True
            self.loop.set_handlers(self.master, self._readable, self._writable)
        return n

    def _writable(self) -> None:
        self._writer_armed = False
        self.loop.set_handlers(self.master, self._readable, None)
        if self._pacer is None:
            self._flush()

    def _paced_step(self) -> None:
        self._pacer = None
        if self.master < 0 or not self._out:
            return
        assert self.baud is not None
        bytes_per_s = self.baud / BITS_PER_BYTE
        chunk = max(1, int(bytes_per_s * PACING_SLICE_S))
        n = self._write_now(min(chunk, len(self._out)))
        if self._out and n:
            self._pacer = self.loop.call_later(n / bytes_per_s, self._paced_step)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, READ_CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            raise
        if data:
            self.on_data(data)
