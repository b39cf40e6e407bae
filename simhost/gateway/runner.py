"""Keeps a gateway running for the registered ports, started again when ports are added or removed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from simhost.config import Settings
from simhost.gateway.service import Gateway
from simhost.gateway.shards import ShardedGateway, auto_processes, plan_shards
from simhost.gateway.worker import PortConfig, open_port_driver
from simhost.metrics import Metrics

log = logging.getLogger("simhost.gateway.runner")


class GatewayRunner:
    """The gateway for a set of ports, in one process or several (`processes`; None: `auto_processes`).

    A changed set of ports stops the running gateway and starts a new one: the SIMs keep what arrives in
    between, so nothing is lost, and every status and MQTT will names the ports as they now are.
    """

    def __init__(self, settings: Settings, engine: Engine, processes: int | None,
                 announce: Callable[[str], None] = log.warning, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()  # of a gateway in this process; each gateway process has its own
        self.announce = announce
        self.engine = engine
        self.processes = processes
        self.ports: tuple[PortConfig, ...] = ()
        self.service: Gateway | ShardedGateway | None = None
        self._started = False

    def start(self, ports: Sequence[PortConfig]) -> None:
        """Start for `ports` (none: wait for some)."""
        self._run(ports)

    def reload(self, ports: Sequence[PortConfig]) -> bool:
        """Start again if `ports` differ from those running (said first, then done); whether they did."""
        if tuple(ports) == self.ports:
            return False
        before = {p.name: p for p in self.ports}
        after = {p.name: p for p in ports}
        changes = [f"{label} {', '.join(names)}" for label, names in (
            ("added", sorted(set(after) - set(before))),
            ("removed", sorted(set(before) - set(after))),
            ("changed", sorted(n for n in set(before) & set(after) if before[n] != after[n])),
        ) if names]
        self.announce(f"ports {'; '.join(changes)}: starting the gateway again")
        self.stop()
        self._run(ports)
        return True

    def _run(self, ports: Sequence[PortConfig]) -> None:
        self.ports = ()  # until it runs: a start that fails is tried again at the next reload
        self.service = None
        if not ports:
            self.announce("gateway: no ports registered; waiting for `simhost port add`")
            return
        shards = plan_shards(ports, self.processes or auto_processes(len(ports)))
        service: Gateway | ShardedGateway
        if len(shards) == 1:
            service = Gateway(self.settings, self.engine, ports, open_port_driver, metrics=self.metrics)
        else:
            # the first start forks before any other thread runs here; later ones start fresh interpreters
            method = "spawn" if self._started else "fork"
            self.engine.dispose()  # no process may share this one's database connections
            service = ShardedGateway(self.settings, shards, start_method=method)
        self._started = True
        service.start()
        self.service, self.ports = service, tuple(ports)
        self.announce(f"gateway: {len(ports)} port(s) in {len(shards)} process(es), broker {self.settings.mqtt}")

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None
