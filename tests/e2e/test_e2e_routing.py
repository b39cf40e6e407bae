"""End to end: SMS and calls on hwsim ports reach the right customer topic, or `unrouted` with the right reason,
through gateway and router processes started as an operator starts them."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hwsim import Bank
from tests.brokerlib import PrivateBroker
from tests.gateway.gwlib import GatewayProcess
from tests.mqttlib import Collector

WAIT_S = 60.0
# port -> (kind, owner)
LAYOUT = {
    "port01": ("shared", None),
    "port02": ("virtual", "acme"),
    "port03": ("hosted-company", "beta"),
    "port04": ("hosted-client", "gamma"),
}


@dataclass
class Site:
    bank: Bank
    proc: GatewayProcess
    owners: Collector
    unrouted: Collector
    services: list[subprocess.Popen[bytes]]

    def modem(self, port: str) -> Any:
        return next(m for m in self.bank.ports if m.name == port)

    def cli(self, *args: str) -> str:
        out = self.proc.cli(*args)
        assert out.returncode == 0, f"simhost {' '.join(args)}: {out.stderr}"
        return out.stdout

    def routed(self) -> list[dict[str, Any]]:
        return self.owners.json_payloads()

    def find(self, collector: Collector, pred: Any) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [p for p in collector.json_payloads() if pred(p)]
            return bool(found)

        assert collector.wait_until(seen, WAIT_S), (
            f"not seen; routed={self.owners.json_payloads()} unrouted={self.unrouted.json_payloads()}\n"
            f"{self.logs()}")
        assert len(found) == 1, found
        return found[0]

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.proc.workdir.glob("*.log"))


def wait_running(broker: PrivateBroker, prefix: str, ports: set[str], router: str, logs: Any) -> None:
    """Until every port reports ready and the router is subscribed (its retained status is online)."""
    status = Collector(broker.url, f"{prefix}/v1/ports/+/status", f"{prefix}/v1/routers/{router}/status")

    def running() -> bool:
        latest = {t: json.loads(p) for t, p, _r in list(status.messages) if p}
        ready = {t.split("/")[-2] for t, p in latest.items() if "/ports/" in t and p.get("state") == "ready"}
        router_up = latest.get(f"{prefix}/v1/routers/{router}/status", {}).get("state") == "online"
        return ready >= ports and router_up

    try:
        assert status.wait_until(running, WAIT_S), logs()
    finally:
        status.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def site(tmp_path: Path, broker: PrivateBroker) -> Iterator[Site]:
    bank = Bank(tmp_path / "bank", ports=4, profiles=("generic", "sim800", "ec25", "e173"), seed=21)
    bank.start()
    proc = GatewayProcess(tmp_path, broker.url, router_ack=True)
    prefix = proc.prefix
    owners = Collector(broker.url, f"{prefix}/v1/owners/+/messages")
    unrouted = Collector(broker.url, f"{prefix}/v1/unrouted")
    s = Site(bank, proc, owners, unrouted, [])
    try:
        s.cli("db", "upgrade")
        for login in ("acme", "beta", "gamma", "delta"):
            s.cli("owner", "add", login, "--name", login.title())
            s.cli("owner", "verify", login)
        info = bank.info["ports"]
        for i, port in enumerate(info, start=1):
            kind, owner = LAYOUT[port["name"]]
            slot = port["slots"][0]
            s.cli("port", "add", port["name"], "--url", port["path"])
            s.cli("slot", "add", "--bank", "1", "--slot", str(i), "--iccid", slot["iccid"],
                  "--msisdn", slot["msisdn"], "--kind", kind, "--port", port["name"],
                  *(["--owner", owner] if owner else []))
        s.cli("whitelist", "add", info[2]["slots"][0]["msisdn"], "Sberbank")
        s.cli("sent", "record", "--from", info[0]["slots"][0]["msisdn"], "--to", "+79160000002", "--owner", "delta")
        s.services.append(proc.spawn("gateway"))
        s.services.append(proc.spawn("router", "--router-id", "e2e"))
        wait_running(broker, prefix, {p["name"] for p in info}, "e2e", s.logs)
        yield s
    finally:
        for p in s.services:
            stop(p)
        owners.close()
        unrouted.close()
        bank.stop()


def test_every_number_kind_routes_sms_and_calls(site: Site) -> None:
    shared, virtual, company, client = (site.modem(p) for p in LAYOUT)

    shared.sms("+79160000001", "ACME: hello there")
    m = site.find(site.owners, lambda p: p["text"] == "ACME: hello there")
    assert (m["owner"], m["rule"], m["text_without_prefix"], m["number_kind"]) == ("acme", "prefix", "hello there",
                                                                                   "shared")

    shared.sms("+79160000002", "a reply to delta")
    m = site.find(site.owners, lambda p: p["text"] == "a reply to delta")
    assert (m["owner"], m["rule"]) == ("delta", "reply")

    shared.sms("+79160000003", "from a stranger")
    m = site.find(site.unrouted, lambda p: p.get("text") == "from a stranger")
    assert m["reason_code"] == "no-match"

    shared.sms("VK", "alpha on shared")
    m = site.find(site.unrouted, lambda p: p.get("text") == "alpha on shared")
    assert m["reason_code"] == "alphanumeric-rejected"

    virtual.sms("+79160000004", "to the virtual number")
    m = site.find(site.owners, lambda p: p["text"] == "to the virtual number")
    assert (m["owner"], m["rule"], m["number_kind"]) == ("acme", "dedicated", "virtual")
    virtual.sms("Megafon", "alpha on virtual")
    m = site.find(site.unrouted, lambda p: p.get("text") == "alpha on virtual")
    assert m["reason_code"] == "alphanumeric-rejected"

    company.sms("Sberbank", "whitelisted name")
    m = site.find(site.owners, lambda p: p["text"] == "whitelisted name")
    assert (m["owner"], m["sender_type"]) == ("beta", "alphanumeric")
    company.sms("VK", "not on the whitelist")
    m = site.find(site.unrouted, lambda p: p.get("text") == "not on the whitelist")
    assert m["reason_code"] == "sender-not-whitelisted"

    client.sms("VK", "anything goes on a client SIM")
    m = site.find(site.owners, lambda p: p["text"] == "anything goes on a client SIM")
    assert m["owner"] == "gamma"

    # calls: dedicated numbers by owner, shared by reply attribution only
    client.call("+79160000005")
    m = site.find(site.owners, lambda p: p["kind"] == "call" and p["owner"] == "gamma")
    assert (m["text"], m["sender"]) == ("[CALL]", "+79160000005")
    shared.call("+79160000002")
    m = site.find(site.owners, lambda p: p["kind"] == "call" and p["owner"] == "delta")
    assert m["rule"] == "reply"
    virtual.call(None, withheld=True)
    m = site.find(site.owners, lambda p: p["kind"] == "call" and p["owner"] == "acme")
    assert m["sender"] == "withheld"
    company.call("+79160000006")
    m = site.find(site.owners, lambda p: p["kind"] == "call" and p["owner"] == "beta")
    assert (m["number_kind"], m["rule"]) == ("hosted-company", "dedicated")
    shared.call("+79160000007")
    m = site.find(site.unrouted, lambda p: p.get("kind") == "call" and p.get("sender") == "+79160000007")
    assert m["reason_code"] == "no-match"


def test_sent_report_over_mqtt_enables_reply_and_bad_payloads_are_kept(site: Site, broker: PrivateBroker) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    shared = site.modem("port01")
    number = site.bank.info["ports"][0]["slots"][0]["msisdn"]
    prefix = site.proc.prefix
    pub = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    try:
        pub.publish(f"{prefix}/v1/sent", json.dumps({"from": number, "to": "89160000009", "owner": "beta"}),
                    qos=1).wait_for_publish(10)
        pub.publish(f"{prefix}/v1/sent", b"{not json", qos=1).wait_for_publish(10)
        pub.publish(f"{prefix}/v1/inbound/port09", b"\xff\xfe garbage", qos=1).wait_for_publish(10)
        bad = site.find(site.unrouted, lambda p: p.get("reason_code") == "bad-payload"
                        and p.get("topic", "").endswith("/v1/sent"))
        assert bad["raw"] == "{not json"
        site.find(site.unrouted, lambda p: p.get("reason_code") == "bad-payload"
                  and p.get("topic", "").endswith("/inbound/port09"))

        assert wait_for_send(site.proc.workdir / "simhost.db", "+79160000009"), site.logs()
        shared.sms("+79160000009", "reply after an MQTT send report")
        m = site.find(site.owners, lambda p: p["text"] == "reply after an MQTT send report")
        assert (m["owner"], m["rule"]) == ("beta", "reply")

        # a customer's own topic: the owner comes from the topic; naming another customer there is refused
        pub.publish(f"{prefix}/v1/owners/beta/sent", json.dumps({"from": number, "to": "89160000010"}),
                    qos=1).wait_for_publish(10)
        pub.publish(f"{prefix}/v1/owners/beta/sent",
                    json.dumps({"from": number, "to": "89160000011", "owner": "acme"}), qos=1).wait_for_publish(10)
        refused = site.find(site.unrouted, lambda p: p.get("reason_code") == "bad-payload"
                            and p.get("topic", "").endswith("/owners/beta/sent"))
        assert "acme" in refused["reason"]
        assert wait_for_send(site.proc.workdir / "simhost.db", "+79160000010"), site.logs()
        shared.sms("+79160000010", "reply after a report on the customer's own topic")
        m = site.find(site.owners, lambda p: p["text"] == "reply after a report on the customer's own topic")
        assert (m["owner"], m["rule"]) == ("beta", "reply")
        inbox = json.loads(site.cli("inbox", "--owner", "beta", "--json"))
        assert any(row.get("text") == "reply after an MQTT send report" for row in _rows(inbox))
    finally:
        pub.loop_stop()
        pub.disconnect()


def wait_for_send(db: Path, to: str, timeout_s: float = WAIT_S) -> bool:
    """The router recorded the MQTT send report (its directory has it from then on)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT 1 FROM sent_log WHERE to_subscriber = ?", (to,)).fetchone():
                return True
        time.sleep(0.05)
    return False


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("messages", "rows", "items"):
            if isinstance(data.get(key), list):
                return list(data[key])
    return list(data)
