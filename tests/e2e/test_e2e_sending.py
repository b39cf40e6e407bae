"""End to end: a customer asks over MQTT for an SMS to be sent and is told each outcome; the operator sends with
`simhost send --wait`; a gateway SIGKILLed while the modem sends reports that send unknown and never sends it
again."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hwsim import Bank, VirtualModem
from tests.brokerlib import PrivateBroker
from tests.e2e.test_e2e_routing import stop, wait_running
from tests.gateway.gwlib import GatewayProcess
from tests.mqttlib import Collector

WAIT_S = 60.0
RECIPIENT = "+79161234567"


@dataclass
class SendSite:
    bank: Bank
    proc: GatewayProcess
    number: str
    outcomes: Collector
    services: list[subprocess.Popen[bytes]]

    @property
    def modem(self) -> VirtualModem:
        return self.bank.ports[0]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.proc.cli(*args)

    def states(self, send_id: str) -> list[str]:
        return [p["state"] for p in self.outcomes.json_payloads() if p["id"] == send_id]

    def wait_states(self, send_id: str, *states: str) -> None:
        assert self.outcomes.wait_until(lambda: all(s in self.states(send_id) for s in states), WAIT_S), (
            self.outcomes.json_payloads(), self.logs())

    def part_states(self) -> list[str]:
        with sqlite3.connect(self.proc.workdir / "simhost.db") as c:
            return [r[0] for r in c.execute("SELECT state FROM send_parts")]

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.proc.workdir.glob("*.log"))


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path, broker: PrivateBroker) -> Iterator[SendSite]:
    profile = getattr(request, "param", "ec25")
    bank = Bank(tmp_path / "bank", ports=1, profiles=(profile,), seed=31)
    bank.start()
    proc = GatewayProcess(tmp_path, broker.url, router_ack=True)
    proc.env["SIMHOST_SEND_GAP_S"] = "0.1"
    slot = bank.info["ports"][0]["slots"][0]
    outcomes = Collector(broker.url, f"{proc.prefix}/v1/owners/+/sends")
    s = SendSite(bank, proc, slot["msisdn"], outcomes, [])
    try:
        for args in (("db", "upgrade"), ("port", "add", "port01", "--url", bank.ports[0].path),
                     ("owner", "add", "acme", "--verified"),
                     ("slot", "add", "--bank", "1", "--slot", "1", "--iccid", slot["iccid"], "--msisdn",
                      slot["msisdn"], "--kind", "virtual", "--owner", "acme", "--port", "port01")):
            out = s.cli(*args)
            assert out.returncode == 0, out.stderr
        s.services.append(proc.spawn("gateway"))
        s.services.append(proc.spawn("router", "--router-id", "e2e"))
        wait_running(broker, proc.prefix, {"port01"}, "e2e", s.logs)
        yield s
    finally:
        for p in s.services:
            stop(p)
        outcomes.close()
        bank.stop()


def publish(broker: PrivateBroker, topic: str, payload: dict[str, Any]) -> None:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5,
                         client_id=f"customer-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_customer_sends_over_mqtt_and_is_told_each_outcome(site: SendSite, broker: PrivateBroker) -> None:
    topic = f"{site.proc.prefix}/v1/owners/acme/send"
    request = {"id": "order-1", "from": site.number, "to": RECIPIENT, "text": "Your code is 1234"}
    publish(broker, topic, request)
    publish(broker, topic, request)  # a repeat: the same send
    sends = site.outcomes
    assert sends.wait_until(lambda: any(p["state"] == "sent" for p in sends.json_payloads()), WAIT_S), site.logs()
    send_id = next(p["id"] for p in sends.json_payloads())
    site.wait_states(send_id, "queued", "sent")
    assert len(site.modem.state()["sent"]) == 1
    sent = next(p for p in sends.json_payloads() if p["state"] == "sent")
    assert (sent["client_id"], sent["from"], sent["to"], sent["parts"]) == ("order-1", site.number, RECIPIENT, 1)
    assert sent["message_references"] == [site.modem.state()["sent"][0]["mr"]]

    publish(broker, topic, {"from": "+79990000000", "to": RECIPIENT, "text": "not our number"})
    assert sends.wait_until(lambda: any(p["state"] == "failed" for p in sends.json_payloads()), WAIT_S)
    refused = next(p for p in sends.json_payloads() if p["state"] == "failed")
    assert refused["reason_code"] == "refused"
    assert len(site.modem.state()["sent"]) == 1


def test_the_operator_sends_and_waits(site: SendSite) -> None:
    out = site.cli("send", "--owner", "acme", "--from", site.number, "--to", RECIPIENT, "--no-report", "--wait",
                   "from the operator")
    assert out.returncode == 0, out.stderr + site.logs()
    send_id = out.stdout.strip()
    listed = json.loads(site.cli("sends", "--json").stdout)
    assert [(r["id"], r["state"]) for r in listed] == [(send_id, "sent")]
    refused = site.cli("send", "--owner", "acme", "--from", "shared", "--to", RECIPIENT, "no shared number")
    assert refused.returncode == 1
    assert "no shared number" in refused.stderr


@pytest.mark.parametrize("site", ["generic", "sim800", "ec25", "e173"], indirect=True)
def test_a_gateway_killed_while_the_modem_sends_never_sends_twice(site: SendSite) -> None:
    gateway = site.services[0]
    site.modem.fault("hang")  # the AT+CMGS is written, and never answered
    out = site.cli("send", "--owner", "acme", "--from", site.number, "--to", RECIPIENT, "in flight")
    assert out.returncode == 0, out.stderr
    send_id = out.stdout.strip()
    # the part is recorded before AT+CMGS: wait for that, across the processes
    polls = threading.Event()
    for _ in range(int(WAIT_S / 0.1)):
        if site.part_states() == ["sending"]:
            break
        polls.wait(0.1)  # the state is in another process's database rows: nothing to wait on but them
    assert site.part_states() == ["sending"], site.logs()
    gateway.send_signal(signal.SIGKILL)
    gateway.wait()
    site.modem.fault("clear")
    site.services[0] = site.proc.spawn("gateway", log_name="gateway-again.log")
    site.wait_states(send_id, "unknown")
    assert site.part_states() == ["unknown"]
    assert site.modem.state()["sent"] == []
