"""A bank's ports split over several gateway processes, which `simhost run` supervises."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from simhost.backoff import Backoff
from simhost.config import Settings
from simhost.gateway.spool import PortScope
from simhost.gateway.worker import PortConfig
from simhost.logs import announce, current_format, setup_logging
from simhost.metrics import Metrics, MetricsServer, offset_listen, serve

log = logging.getLogger("simhost.gateway.shards")

PORTS_PER_PROCESS = 32  # a process keeps up with about 17 ports draining at 115200 baud; idle ones cost nearly nothing
RESTART_FIRST_S = 1.0  # a process that dies is started again after this, doubling up to RESTART_MAX_S
RESTART_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a process that ran this long starts its backoff afresh when it dies
STOP_TIMEOUT_S = 20.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Shard:
    """One gateway process's share of the bank."""

    index: int
    count: int
    ports: tuple[PortConfig, ...]
    scope: PortScope | None

    def gateway_id(self, base: str) -> str:
        return base if self.count == 1 else f"{base}-{self.index + 1}"

    def describe(self) -> str:
        names = [p.name for p in self.ports]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f"gateway process {self.index + 1} of {self.count} ({shown})"


def auto_processes(port_count: int, cpus: int | None = None) -> int:
    """One process per PORTS_PER_PROCESS ports, no more than there are cores."""
    cores = cpus or os.cpu_count() or 1
    return max(1, min(cores, math.ceil(port_count / PORTS_PER_PROCESS)))


def plan_shards(ports: Sequence[PortConfig], processes: int) -> list[Shard]:
    """Deal `ports` (in their listed order) round-robin over `processes` processes (at most one per port).

    The first process also takes the spool rows of ports that no process drives."""
    count = max(1, min(processes, len(ports)))
    if count == 1:
        return [Shard(0, 1, tuple(ports), None)]
    groups = [tuple(ports[i::count]) for i in range(count)]
    names = [frozenset(p.name for p in group) for group in groups]
    shards = [Shard(0, count, groups[0], PortScope(frozenset().union(*names[1:]), others=True))]
    shards += [Shard(i, count, groups[i], PortScope(names[i])) for i in range(1, count)]
    return shards


def run_shard(settings: Settings, shard: Shard, base_id: str, log_level: int, log_format: str) -> None:
    """A gateway process: drive the shard's ports until SIGTERM/SIGINT (the body of each child)."""
    _die_with_parent()
    if not logging.getLogger().handlers:  # a spawned process starts without the parent's logging set up
        setup_logging(log_level, log_format)
    from simhost.db import make_engine
    from simhost.gateway.service import Gateway
    from simhost.gateway.worker import open_port_driver

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    metrics = Metrics()
    server = _serve_metrics(settings, shard, metrics)
    gateway = Gateway(settings, make_engine(settings.db_url), shard.ports, open_port_driver,
                      gateway_id=shard.gateway_id(base_id), scope=shard.scope, metrics=metrics)
    gateway.start()
    stop.wait()
    gateway.stop()
    if server is not None:
        server.stop()


def _serve_metrics(settings: Settings, shard: Shard, metrics: Metrics) -> MetricsServer | None:
    """A gateway process's own metrics endpoint: the port of settings.metrics_listen plus the process's number (1,
    2, ...), its address printed. One that cannot listen runs without it (the error logged): the messages matter
    more than their count."""
    if settings.metrics_listen is None:
        return None
    listen = offset_listen(settings.metrics_listen, shard.index + 1)
    try:
        server = serve(listen, metrics)
    except OSError as exc:
        log.error("%s: no metrics endpoint at %s: %s", shard.describe(), listen, exc)
        return None
    announce(f"metrics of {shard.describe()}: {server.url}", "simhost.gateway.shards")
    return server


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (elsewhere: nothing to do)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


class ShardedGateway:
    """The gateway as one child process per shard; `start()` and `stop()` like `Gateway`.

    Python runs one thread at a time in a process, so one gateway process tops out at one core (about 1,500
    messages a second while draining full SIMs); a bank of hundreds of modems needs several. Each process
    owns its ports and their rows in the spool (see `PortScope`), has its own MQTT sessions and gateway id,
    and dies with the supervisor (SIGKILL from the kernel), so a killed `simhost run` never leaves a process
    behind that would still hold the serial ports.

    `start_method` "fork" (no re-import: a fast start) is for a parent that runs no other thread yet;
    otherwise "spawn". A process that dies is started again, after a backoff if it keeps dying, with a
    fresh interpreter (spawn), since by then the parent runs threads that a fork must not copy."""

    def __init__(self, settings: Settings, shards: Sequence[Shard], *, base_id: str | None = None,
                 start_method: str = "fork") -> None:
        self.settings = settings
        self.start_method = start_method
        self.shards = list(shards)
        self.base_id = base_id or socket.gethostname()
        self.log_level = logging.getLogger().getEffectiveLevel()
        self.log_format = current_format()
        self.procs: dict[int, BaseProcess] = {}
        self._started_at: dict[int, float] = {}
        self._backoffs = {shard.index: Backoff(first_s=RESTART_FIRST_S, max_s=RESTART_MAX_S, stable_s=STABLE_AFTER_S)
                          for shard in self.shards}
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._supervise, name="simhost-gw-supervisor", daemon=True)

    def start(self) -> None:
        context = multiprocessing.get_context(self.start_method)
        for shard in self.shards:
            self._spawn(shard, context)
        self._watcher.start()

    def _spawn(self, shard: Shard, context: Any) -> None:
        proc = context.Process(target=run_shard, name=f"simhost-gateway-{shard.index + 1}",
                               args=(self.settings, shard, self.base_id, self.log_level, self.log_format))
        proc.start()
        self.procs[shard.index] = proc
        self._started_at[shard.index] = time.monotonic()

    def _supervise(self) -> None:
        # Runs until stop(), then stops the processes itself: Linux sends the parent-death signal when the
        # *thread* that started a process ends, and the processes started again were started here.
        spawn = multiprocessing.get_context("spawn")
        due: dict[int, float] = {}
        while not self._stopping.wait(0.5):
            now = time.monotonic()
            for shard in self.shards:
                proc = self.procs[shard.index]
                if proc.is_alive():
                    continue
                if shard.index not in due:
                    ran = now - self._started_at[shard.index]
                    delay = self._backoffs[shard.index].failed(ran)
                    due[shard.index] = now + delay
                    log.error("%s exited with code %s after %.1f s; starting it again in %.0f s",
                              shard.describe(), proc.exitcode, ran, delay)
                if now >= due[shard.index]:
                    del due[shard.index]
                    self._spawn(shard, spawn)
        self._stop_processes()

    def _stop_processes(self) -> None:
        for proc in self.procs.values():
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.error("%s did not stop in %.0f s; killing it", proc.name, STOP_TIMEOUT_S)
                proc.kill()
                proc.join()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()
        else:
            self._stop_processes()
