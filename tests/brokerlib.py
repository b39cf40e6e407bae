"""A private Mosquitto broker on a free loopback port, started and stopped by tests."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BROKER_START_TIMEOUT_S = 10.0
DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


def dynsec_missing() -> str | None:
    """Why a broker with the dynamic-security plugin cannot be started here, or None."""
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        return "mosquitto is not installed (scripts/setup.sh installs it)"
    if not DYNSEC_PLUGIN.exists():
        return f"the dynamic-security plugin {DYNSEC_PLUGIN} is not installed"
    if not shutil.which("mosquitto_ctrl"):
        return "mosquitto_ctrl is not installed"
    return None


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port below the ephemeral range.

    A client reconnecting to a stopped broker on an ephemeral port can get that very port as its own
    source port and connect to itself (TCP simultaneous open), which then keeps the broker from
    listening there again.
    """
    low, _high = _ephemeral_range()
    candidates = list(range(10000, max(10001, low - 1)))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port below the ephemeral range")


class PrivateBroker:
    """A mosquitto process of our own; `stop()` and `start()` again keep the same port."""

    def __init__(self, extra_config: str = "", *, persistent: bool = False,
                 dynsec_admin: tuple[str, str] | None = None) -> None:
        """`dynsec_admin` (user, password): load the dynamic-security plugin, its file made by `mosquitto_ctrl
        dynsec init` with that admin, and refuse anonymous clients."""
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.exe = exe
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="simhost-broker-"))
        # mosquitto started as root drops to the mosquitto user, which must write its persistence file
        os.chmod(self.dir, 0o777)
        self.conf = self.dir / "mosquitto.conf"
        self.dynsec_file = self.dir / "dynamic-security.json"
        plugin = ""
        if dynsec_admin is not None:
            subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(self.dynsec_file), *dynsec_admin],
                           check=True, capture_output=True)
            os.chmod(self.dynsec_file, 0o666)  # read and rewritten by the mosquitto user when started as root
            plugin = f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {self.dynsec_file}\n"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + ("allow_anonymous true\n" if dynsec_admin is None else "allow_anonymous false\n" + plugin)
            + (f"persistence true\npersistence_location {self.dir}/\n" if persistent
               else "persistence false\n")
            + "max_queued_messages 100000\n"
            + extra_config
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "mosquitto.log").open("ab"),
        )
        deadline = time.monotonic() + BROKER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start: {(self.dir / 'mosquitto.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not accept connections in time")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
