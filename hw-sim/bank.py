"""The virtual SIM bank: N virtual modems on ptys in one event loop, with a control socket."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from hwsim.control import ControlServer
from hwsim.dialect import Timing
from hwsim.identity import IdentityFactory
from hwsim.loop import EventLoop
from hwsim.modem import VirtualModem
from hwsim.profiles import profile_class

MAX_PORTS = 999
MAX_SLOTS = 16
PRELOAD_MEMORIES = ("SM", "ME", "SR")
PRELOAD_SENDER = "+79000000002"
HUB_PORTS = 7  # each virtual hub has seven ports, as most USB 2.0 hubs: port k of hub h sits at 1-h.k


def parse_preload(spec: str) -> tuple[str, str, int]:
    """`PORT:MEM:N` (e.g. `port01:ME:3`, `*:SM:2` for every port) as (port, memory, count)."""
    fields = spec.split(":")
    if len(fields) != 3 or not fields[0] or not fields[2].isdigit():
        raise ValueError(f"preload {spec!r}: expected PORT:MEM:N, e.g. port01:ME:3 or *:SM:2")
    port, memory, count = fields[0], fields[1].upper(), int(fields[2])
    if memory not in PRELOAD_MEMORIES:
        raise ValueError(f"preload {spec!r}: memory {fields[1]!r} is not one of {', '.join(PRELOAD_MEMORIES)}")
    if count < 1:
        raise ValueError(f"preload {spec!r}: N must be at least 1")
    return port, memory, count


class Bank:
    """`ports` virtual modems in `directory` (port01, port02, ... and control.sock).

    `profiles` cycles over the ports. Identities follow from `seed`. `preload` specs (`PORT:MEM:N`, see
    `parse_preload`) put N generated messages into a port's memory before it starts, as if another program had
    left them there: SMS in "SM" (the active SIM) or "ME" (the modem), status reports in "SR".
    """

    def __init__(self, directory: str | Path, ports: int = 1, profiles: Sequence[str] = ("generic",),
                 slots: int = 1, baud: int | None = None, seed: int = 0, *,
                 timing: Timing | None = None, preload: Sequence[str] = ()) -> None:
        if isinstance(profiles, str):
            profiles = (profiles,)
        if not 1 <= ports <= MAX_PORTS:
            raise ValueError(f"ports must be 1-{MAX_PORTS}, got {ports}")
        if not 1 <= slots <= MAX_SLOTS:
            raise ValueError(f"slots must be 1-{MAX_SLOTS}, got {slots}")
        if not profiles:
            raise ValueError("at least one profile is needed")
        if baud is not None and baud <= 0:
            raise ValueError(f"baud must be positive, got {baud}")
        classes = [profile_class(p) for p in profiles]
        self.directory = Path(directory)
        self.control_path = self.directory / "control.sock"
        self.timing = timing or Timing()
        self._loop = EventLoop()
        ids = IdentityFactory(seed)
        self.ports: list[VirtualModem] = []
        for i in range(ports):
            cls = classes[i % len(classes)]
            name = f"port{i + 1:02d}"
            imei = ids.imei(cls.DIALECT.tac)
            sims = [ids.sim(k + 1) for k in range(slots)]
            location = f"1-{i // HUB_PORTS + 1}.{i % HUB_PORTS + 1}"
            self.ports.append(cls(name, self.directory / name, self._loop, imei, sims, seed=seed, baud=baud,
                                  timing=self.timing, location=location))
        self._by_name = {m.name: m for m in self.ports}
        for spec in preload:
            self._preload(spec)
        self._control = ControlServer(self, self._loop, self.control_path)
        self._started = False
        self._stopped = False
        self.info: dict[str, Any] = {}

    def port(self, name: str) -> VirtualModem:
        try:
            return self._by_name[name]
        except KeyError:
            known = f"{self.ports[0].name}-{self.ports[-1].name}"
            raise KeyError(f"no port {name!r} in this bank (ports: {known})") from None

    def at(self, location: str) -> VirtualModem:
        """The modem at USB `location` (e.g. 1-1.3); KeyError otherwise."""
        for m in self.ports:
            if m.location == location:
                return m
        raise KeyError(f"no modem at USB location {location!r} in this bank")

    def where(self, path: str) -> VirtualModem:
        """The modem whose tty `path` is now (its link or the pty itself); KeyError otherwise."""
        target = Path(path).resolve()
        for m in self.ports:
            if Path(m.path).resolve() == target and Path(m.path).exists():
                return m
        raise KeyError(f"no modem of this bank is at {path}")

    def _preload(self, spec: str) -> None:
        port, memory, count = parse_preload(spec)
        for m in self.ports if port == "*" else [self.port(port)]:
            for n in range(1, count + 1):
                m.store(memory, PRELOAD_SENDER, f"preloaded {n} of {count} in {memory} of {m.name}")

    def start(self) -> dict[str, Any]:
        """Create the ptys, symlinks and control socket; returns the ready info."""
        if self._started:
            raise RuntimeError("bank already started")
        self._started = True
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for m in self.ports:
                m.plug()
            self._control.start()
            self._loop.start()
        except BaseException:
            self.stop()
            raise
        self.info = {"dir": str(self.directory), "control": str(self.control_path),
                     "ports": [m.info() for m in self.ports]}
        return self.info

    def stop(self) -> None:
        """Close every pty and the socket, stop the loop thread, remove the files; idempotent."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True

        def teardown() -> None:
            for m in self.ports:
                with contextlib.suppress(Exception):
                    m.shutdown()
            self._control.close()
        self._loop.run_sync(teardown)
        self._loop.stop()

    def __enter__(self) -> Bank:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
