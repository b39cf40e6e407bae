"""`simhost status` from the retained statuses of a real gateway driving a virtual bank; the broker away; `--watch`
without a terminal following a port as it goes offline."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hwsim import Bank
from tests.brokerlib import PrivateBroker, free_port
from tests.e2e.test_e2e_port_status import latest
from tests.gateway.gwlib import VENV_BIN, GatewayProcess
from tests.mqttlib import Collector

WAIT_S = 60.0


@pytest.fixture
def running(tmp_path: Path, broker: PrivateBroker) -> Iterator[tuple[Bank, GatewayProcess, Collector]]:
    """A bank of two modems, both registered, and a third port whose modem is not there; a gateway driving them,
    and a subscriber to their statuses."""
    bank = Bank(tmp_path / "bank", ports=2, profiles=("generic", "sim800"), seed=11)
    bank.start()
    gw = GatewayProcess(tmp_path, broker.url)
    statuses = Collector(broker.url, f"{gw.prefix}/v1/ports/+/status")
    try:
        for m in bank.ports:
            gw.add_port(m.name, str(m.path))
        gw.add_port("gone", str(tmp_path / "unplugged"))  # a modem that is not there
        gw.start("--port-rescan", "0")  # a port registered later stays without a status
        yield bank, gw, statuses
    finally:
        gw.stop()
        statuses.close()
        bank.stop()


def ready(statuses: Collector, names: set[str]) -> bool:
    now = latest(statuses)
    return all(now.get(n, {}).get("state") == "ready" for n in names)


def test_status_shows_each_ports_live_status(running: tuple[Bank, GatewayProcess, Collector]) -> None:
    bank, gw, statuses = running
    assert statuses.wait_until(lambda: ready(statuses, {"port01", "port02"}), WAIT_S), latest(statuses)
    assert statuses.wait_until(lambda: latest(statuses).get("gone", {}).get("last_error") is not None, WAIT_S)
    gw.add_port("spare", "socket://127.0.0.1:9")  # registered after the gateway started: it has no status
    bank.port("port01").sms("+79001234567", "hello")
    assert statuses.wait_until(lambda: latest(statuses)["port01"]["received"] >= 1, WAIT_S), latest(statuses)
    published = latest(statuses)

    out = gw.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["broker"]["reachable"] is True
    assert data["ports"] == {"total": 4, "enabled": 4}
    shown = {p["port"]: p for p in data["port_status"]}
    slots = {p["name"]: p["slots"][0] for p in bank.info["ports"]}
    for name in ("port01", "port02"):
        assert shown[name]["state"] == "ready"
        assert shown[name]["iccid"] == slots[name]["iccid"]
        assert shown[name]["msisdn"] == slots[name]["msisdn"]
        assert shown[name]["signal_dbm"] == published[name]["signal_dbm"]
        assert isinstance(shown[name]["signal_dbm"], int)
        assert shown[name]["storage"]["total"] == published[name]["storage"]["total"]
        assert shown[name]["balance"] is None
    assert shown["port01"]["messages_today"] == 1
    assert shown["port02"]["messages_today"] == 0
    assert "cannot open" in shown["gone"]["last_error"]
    assert shown["gone"]["iccid"] is None
    assert shown["spare"]["state"] == "unknown"

    text = gw.cli("status")
    assert text.returncode == 0, text.stderr
    assert "customers: 0" in text.stdout
    rows = {line.split()[0]: line for line in text.stdout.splitlines() if line.startswith(("port0", "gone", "spare"))}
    assert slots["port01"]["iccid"] in rows["port01"]
    assert f"{published['port01']['signal_dbm']} dBm" in rows["port01"]
    assert "cannot open" in rows["gone"]
    assert rows["spare"].split()[1] == "unknown"


def test_status_without_the_broker_says_so_and_shows_the_database(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, f"mqtt://127.0.0.1:{free_port()}")  # nothing listens there
    gw.add_port("p1", "socket://127.0.0.1:9")
    out = gw.cli("status")
    assert out.returncode == 0, out.stderr
    note = out.stderr.strip().splitlines()
    assert len(note) == 1, out.stderr
    assert "cannot reach the MQTT broker" in note[0]
    assert "ports:     1 (1 enabled)" in out.stdout
    assert any(line.split()[:2] == ["p1", "unknown"] for line in out.stdout.splitlines())

    data = json.loads(gw.cli("status", "--json").stdout)
    assert data["broker"]["reachable"] is False
    assert "cannot reach" in data["broker"]["error"]
    assert data["registry_version"] == 0
    assert [p["port"] for p in data["port_status"]] == ["p1"]


class Output:
    """What a process printed on stdout so far, read as it comes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.raw = b""

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    def read_until(self, done: Callable[[str], bool], timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not done(self.text):
            left = deadline - time.monotonic()
            assert left > 0, f"not seen in time; printed:\n{self.text[-3000:]}"
            readable, _, _ = select.select([self.fd], [], [], left)
            if readable:
                chunk = os.read(self.fd, 65536)
                assert chunk, f"the process ended; printed:\n{self.text[-3000:]}"
                self.raw += chunk

    def read_rest(self) -> None:
        while chunk := os.read(self.fd, 65536):
            self.raw += chunk


def last_state(port: str) -> Callable[[str], str | None]:
    def state(text: str) -> str | None:
        rows = [line.split() for line in text.splitlines() if line.startswith(f"{port} ")]
        return rows[-1][1] if rows else None
    return state


def test_watch_without_a_terminal_prints_a_table_per_change(running: tuple[Bank, GatewayProcess, Collector]) -> None:
    _bank, gw, statuses = running
    assert statuses.wait_until(lambda: ready(statuses, {"port01", "port02"}), WAIT_S), latest(statuses)
    watcher = subprocess.Popen([str(VENV_BIN / "simhost"), "status", "--watch", "--interval", "0.1"], env=gw.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        state, out = last_state("port01"), Output(watcher)
        out.read_until(lambda text: state(text) == "ready")
        gw.stop()  # a gateway that stops publishes its ports offline
        out.read_until(lambda text: state(text) == "offline")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=WAIT_S) == 0
        out.read_rest()
        assert "\x1b" not in out.text
        assert out.text.count("PORT ") >= 2  # a table before the change, one after
        assert watcher.stderr is not None
        assert watcher.stderr.read() == b""
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        for pipe in (watcher.stdout, watcher.stderr):
            if pipe is not None:
                pipe.close()
