"""Helpers for gateway tests: run `simhost run --only gateway` as a process against a virtual bank; a spool that
tells which outbox rows were marked done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from simhost.db import upgrade
from simhost.gateway.spool import OUTBOX, OutboxRow, Spool

VENV_BIN = Path(sys.executable).parent
STOP_TIMEOUT_S = 15.0


class GatewayProcess:
    """A gateway process with its own SQLite database and topic prefix; `router_ack` when a router runs too (the
    gateway then keeps each message until a router confirmed it)."""

    def __init__(self, workdir: Path, mqtt_url: str, *, prefix: str | None = None, router_ack: bool = False) -> None:
        self.workdir = workdir
        self.prefix = prefix or f"gw{uuid.uuid4().hex[:8]}"
        self.env = dict(
            os.environ,
            SIMHOST_DB=f"sqlite:///{workdir}/simhost.db",
            SIMHOST_MQTT=mqtt_url,
            SIMHOST_TOPIC_PREFIX=self.prefix,
            # without a router in the test, the broker's PUBACK is what makes a message done
            SIMHOST_ROUTER_ACK_TIMEOUT_S=os.environ.get("SIMHOST_ROUTER_ACK_TIMEOUT_S", "30") if router_ack else "0",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "gateway.log"
        upgrade(self.env["SIMHOST_DB"])  # only `simhost db upgrade` (or this) creates the database

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "simhost"), *args], env=self.env, capture_output=True,
                              text=True, check=False)

    def add_port(self, name: str, url: str, driver: str | None = None) -> None:
        extra = ["--driver", driver] if driver else []
        out = self.cli("port", "add", name, "--url", url, *extra)
        assert out.returncode == 0, out.stderr

    def start(self, *extra: str) -> None:
        self.proc = self.spawn("gateway", *extra)

    def spawn(self, only: str, *extra: str, log_name: str | None = None) -> subprocess.Popen[bytes]:
        """`simhost run --only ONLY` with this database and prefix, logging to the work directory."""
        path = self.workdir / (log_name or f"{only}.log")
        with path.open("ab") as log:
            return subprocess.Popen(
                [str(VENV_BIN / "simhost"), "-vv", "run", "--only", only, *extra],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.proc = None
        return rc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def by_id(payloads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in payloads}


class WatchedSpool(Spool):
    """A spool that tells which outbox rows were marked done (published, or confirmed by a router)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marked: list[str] = []
        self.cond = threading.Condition()

    def mark_published(self, message_ids: Sequence[str]) -> None:
        super().mark_published(message_ids)
        with self.cond:
            self.marked.extend(message_ids)
            self.cond.notify_all()

    def wait_marked(self, count: int, timeout_s: float) -> bool:
        """Until `count` rows in all were marked."""
        with self.cond:
            return self.cond.wait_for(lambda: len(self.marked) >= count, timeout_s)

    def wait_ids(self, ids: set[str], timeout_s: float) -> bool:
        """Until every row of `ids` was marked."""
        with self.cond:
            return self.cond.wait_for(lambda: ids <= set(self.marked), timeout_s)

    def all_rows(self) -> list[OutboxRow]:
        with self.engine.connect() as c:
            return [OutboxRow(*r) for r in c.execute(select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.payload))]
