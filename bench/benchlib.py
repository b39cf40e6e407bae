"""Shared helpers for the benchmarks: /proc readings, percentiles, a timestamping MQTT subscriber, gateway processes."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from simhost.config import MqttTarget  # noqa: E402

VENV_BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SUBSCRIBE_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 30.0
LINE_BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit


# ---- /proc ---------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all its threads) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[11], fields[12] are utime and stime (stat fields 14 and 15)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (a gateway split over processes, a daemon forking one per modem)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def tree_sum(pid: int, measure: Callable[[int], float]) -> float:
    """`measure(p)` summed over `pid` and its live descendants (one that exits meanwhile counts nothing)."""
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, KeyError):
            total += measure(p)
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live descendants."""
    return tree_sum(pid, cpu_seconds)


def proc_status_kib(pid: int, key: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM, ...)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


# ---- statistics ----------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """n, p50, p99, max and mean of latencies given in seconds, as milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(sum(ms) / len(ms), 2)}


# ---- MQTT ----------------------------------------------------------------------------------

class Subscriber:
    """Subscribes (QoS 1) and records each message with the wall-clock time its callback ran."""

    def __init__(self, url: str, *topics: str) -> None:
        target = MqttTarget.parse(url)
        self.received: list[tuple[float, str, bytes]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.topics = topics
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=f"bench-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5)
        self.client.on_connect = lambda c, *_a: c.subscribe([(t, 1) for t in self.topics])
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        if not self._subscribed.wait(SUBSCRIBE_TIMEOUT_S):
            self.close()
            raise RuntimeError(f"could not subscribe to {topics}")

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        now = time.time()
        with self._cond:
            self.received.append((now, msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def snapshot(self) -> list[tuple[float, str, bytes]]:
        with self._cond:
            return list(self.received)

    def since(self, start: int) -> list[tuple[float, str, bytes]]:
        """The messages received after the first `start` ones."""
        with self._cond:
            return self.received[start:]

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `predicate()` (re-checked after every message) holds; False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class StatusWatch(Subscriber):
    """Follows the gateway's retained port status topics: the latest state per port."""

    def __init__(self, url: str, prefix: str) -> None:
        self.states: dict[str, str] = {}
        super().__init__(url, f"{prefix}/v1/ports/+/status")

    def _on_message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        try:
            state = str(json.loads(msg.payload).get("state"))
        except (ValueError, AttributeError):
            state = "?"
        with self._cond:
            self.states[msg.topic.split("/")[-2]] = state
        super()._on_message(c, u, msg)

    def wait_ready(self, names: Iterable[str], timeout_s: float) -> bool:
        wanted = set(names)
        return self.wait_until(lambda: all(self.states.get(n) == "ready" for n in wanted), timeout_s)

    def count(self, state: str) -> int:
        with self._cond:
            return sum(1 for s in self.states.values() if s == state)


# ---- the gateway as a user runs it ------------------------------------------------------------

def stop_processes(procs: Sequence[subprocess.Popen[bytes]], timeout_s: float) -> list[int | None]:
    """SIGTERM each, wait up to `timeout_s` for each, SIGKILL what is left; the exit codes (None: killed)."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=timeout_s))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            codes.append(None)
    return codes


def simhost_cli(*args: str) -> None:
    """Run one `simhost` command in this process (same click command as the binary, without the
    ~0.7 s interpreter start that registering hundreds of ports one process each would cost)."""
    from simhost.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        main.main(args=list(args), prog_name="simhost", standalone_mode=False)


class GatewayProcess:
    """`simhost run --only gateway` with its own SQLite database and topic prefix."""

    def __init__(self, workdir: Path, mqtt_url: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.db_url = f"sqlite:///{workdir}/simhost.db"
        # no router runs here: the broker's PUBACK is what makes a message done
        self.env = dict(os.environ, SIMHOST_DB=self.db_url, SIMHOST_MQTT=mqtt_url,
                        SIMHOST_TOPIC_PREFIX=self.prefix, SIMHOST_ROUTER_ACK_TIMEOUT_S="0")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "gateway.log"
        self.started_at = 0.0
        simhost_cli("--db", self.db_url, "db", "upgrade")

    def add_ports(self, ports: Iterable[tuple[str, str]]) -> None:
        """`simhost port add NAME --url URL` for each (name, url)."""
        for name, url in ports:
            simhost_cli("--db", self.db_url, "port", "add", name, "--url", url)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.started_at = time.time()
            self.proc = subprocess.Popen([str(VENV_BIN / "simhost"), "run", "--only", "gateway"],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        return stop_processes([proc], STOP_TIMEOUT_S)[0]

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
