"""`simhost run --metrics-listen` against a virtual bank and a private broker: an SMS moves the counters, the port's
gauges show its modem, and `-v --log-format json` logs it as JSON lines with their fields."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hwsim import Bank
from tests.brokerlib import PrivateBroker, free_port
from tests.e2e.test_e2e_routing import stop, wait_running
from tests.gateway.gwlib import VENV_BIN, GatewayProcess
from tests.metrics.metricslib import Samples, scrape, scrape_until, value
from tests.mqttlib import Collector
from tests.router.routerlib import cli

WAIT_S = 30.0
SENDER = "+79160000004"
TEXT = "metrics: a private text"


@contextmanager
def simhost_run(proc: GatewayProcess, *args: str, log_name: str = "run.log") -> Iterator[Path]:
    """`simhost ARGS` (global options, then `run ...`) with the process's database and prefix; its log's path."""
    path = proc.workdir / log_name
    with path.open("ab") as log:
        child = subprocess.Popen([str(VENV_BIN / "simhost"), *args], env=proc.env, stdout=log,
                                 stderr=subprocess.STDOUT)
    try:
        yield path
    finally:
        stop(child)


def lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON log, each parsed (a line that is not one JSON object fails the test)."""
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
        out.append(record)
    return out


def test_an_sms_moves_the_counters_and_the_json_log_has_its_lines(tmp_path: Path, broker: PrivateBroker) -> None:
    bank = Bank(tmp_path / "bank", ports=1, profiles=("generic",), seed=31)
    bank.start()
    proc = GatewayProcess(tmp_path, broker.url, router_ack=True)
    owners = Collector(broker.url, f"{proc.prefix}/v1/owners/+/messages")
    try:
        port = bank.info["ports"][0]
        slot = port["slots"][0]
        db = proc.env["SIMHOST_DB"]
        cli(db, "owner", "add", "acme", "--verified")
        cli(db, "port", "add", "port01", "--url", port["path"])
        cli(db, "slot", "add", "--bank", "1", "--slot", "1", "--iccid", slot["iccid"], "--msisdn", slot["msisdn"],
            "--kind", "virtual", "--owner", "acme", "--port", "port01")
        listen = f"127.0.0.1:{free_port()}"
        url = f"http://{listen}/metrics"
        with simhost_run(proc, "-v", "--log-format", "json", "run", "--metrics-listen", listen,
                         "--gateway-processes", "1", "--router-id", "m1") as log:
            wait_running(broker, proc.prefix, {"port01"}, "m1", lambda: log.read_text()[-3000:])
            modem = bank.ports[0]
            modem.sms(SENDER, TEXT)
            assert owners.wait_until(lambda: len(owners.messages) == 1, WAIT_S), log.read_text()[-3000:]
            message_id = owners.json_payloads()[0]["id"]

            def moved(s: Samples) -> bool:
                return (value(s, "simhost_messages_received_total", port="port01", kind="sms") == 1
                        and value(s, "simhost_messages_published_total", port="port01") == 1
                        and value(s, "simhost_messages_routed_total", status="routed", rule="dedicated") == 1)

            samples = scrape_until(url, moved, WAIT_S)
            assert moved(samples), {k: v for k, v in samples.items() if k[0].startswith("simhost_messages")}
            rssi = modem.state()["signal"]
            assert value(samples, "simhost_port_signal_dbm", port="port01") == -113 + 2 * rssi
            assert value(samples, "simhost_port_state", port="port01", state="ready") == 1
            assert value(samples, "simhost_port_state", port="port01", state="dead") == 0
            assert value(samples, "simhost_port_storage_capacity_messages", port="port01", memory="SM") == 20
            assert value(samples, "simhost_port_restarts_total", port="port01") == 0
            assert value(samples, "simhost_receive_latency_seconds_count") == 1
            assert 0 < (value(samples, "simhost_receive_latency_seconds_sum") or 0) < 5
            assert value(samples, "simhost_route_latency_seconds_count") == 1
            assert value(samples, "simhost_messages_republished_total") == 0
            # read from the database on the scrape: the message was confirmed, nothing is waiting
            later = scrape_until(url, lambda s: value(s, "simhost_spool_backlog_messages") == 0, WAIT_S)
            assert value(later, "simhost_spool_backlog_messages") == 0
            assert value(later, "simhost_metrics_scrape_errors_total", collector="gateway") == 0
            assert value(later, "process_resident_memory_bytes")
        records = lines(log)
    finally:
        owners.close()
        bank.stop()
    received = [r for r in records if r.get("message_id") == message_id and r["logger"].startswith("simhost.worker")]
    assert [(r["level"], r["port"], r["kind"], r["parts"]) for r in received] == [("INFO", "port01", "sms", 1)]
    routed = [r for r in records if r.get("message_id") == message_id and r["logger"] == "simhost.router"]
    assert [(r["status"], r["owner"], r["rule"]) for r in routed] == [("routed", "acme", "dedicated")]
    states = [(r["previous_state"], r["state"]) for r in records if r.get("port") == "port01" and "state" in r]
    assert ("initializing", "ready") in states
    assert any(r["message"] == f"metrics: {url}" for r in records)
    # the log says which message, never what it said nor who sent it
    text = log.read_text()
    assert TEXT not in text
    assert SENDER not in text
    assert SENDER[1:] not in text


def test_each_gateway_process_serves_its_own_ports(tmp_path: Path, broker: PrivateBroker) -> None:
    bank = Bank(tmp_path / "bank", ports=2, profiles=("generic", "sim800"), seed=32)
    bank.start()
    proc = GatewayProcess(tmp_path, broker.url)
    try:
        for m in bank.ports:
            cli(proc.env["SIMHOST_DB"], "port", "add", m.name, "--url", m.path)
        base = free_port()
        with simhost_run(proc, "run", "--only", "gateway", "--gateway-processes", "2",
                         "--metrics-listen", f"127.0.0.1:{base}") as log:
            own = {name: ready_ports(f"http://127.0.0.1:{base + n}/metrics", name, log)
                   for n, name in enumerate(("port01", "port02"), start=1)}
            supervisor = scrape(f"http://127.0.0.1:{base}/metrics")
        text = log.read_text()
    finally:
        bank.stop()
    assert own == {"port01": {"port01"}, "port02": {"port02"}}
    assert not any(name == "simhost_port_state" for name, _labels in supervisor)
    assert value(supervisor, "process_resident_memory_bytes")
    for n in (1, 2):
        assert f"metrics of gateway process {n} of 2" in text
        assert f"127.0.0.1:{base + n}/metrics" in text


def ready_ports(url: str, name: str, log: Path) -> set[str | None]:
    """Once the endpoint shows port `name` ready: the ports it has gauges of."""
    samples = scrape_until(url, lambda s: value(s, "simhost_port_state", port=name, state="ready") == 1, WAIT_S)
    assert value(samples, "simhost_port_state", port=name, state="ready") == 1, log.read_text()[-3000:]
    return {dict(labels).get("port") for metric, labels in samples if metric == "simhost_port_state"}
