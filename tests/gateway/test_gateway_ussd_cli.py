"""`simhost ussd` end to end: a running gateway on a virtual bank and a private broker answer it; a timeout, a
port nobody drives, an unknown port, a bad code and a bad request each end in one line."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwsim import Bank, Timing
from tests.brokerlib import PrivateBroker
from tests.gateway.gwlib import GatewayProcess
from tests.mqttlib import Collector

WAIT_S = 30.0
CYRILLIC = "Баланс: 123,45 р."


@pytest.fixture
def running(tmp_path: Path, broker: PrivateBroker) -> Iterator[tuple[Bank, GatewayProcess, Collector]]:
    with Bank(tmp_path / "bank", ports=2, profiles=("e173", "ec25"), seed=8, timing=Timing(ussd_reply_s=0.1)) as bank:
        gw = GatewayProcess(tmp_path, broker.url)
        for modem in bank.ports:
            gw.add_port(modem.name, modem.path)
        statuses = Collector(broker.url, f"{gw.prefix}/v1/ports/+/status")
        try:
            gw.start("--port-rescan", "0")  # a port added later stays without a gateway
            assert statuses.wait_until(lambda: {"port01", "port02"} <= {
                p["port"] for p in statuses.json_payloads() if p and p.get("state") == "ready"}, WAIT_S), gw.log()
            yield bank, gw, statuses
        finally:
            gw.stop()
            statuses.close()


def test_the_answer_comes_back_decoded(running: tuple[Bank, GatewayProcess, Collector]) -> None:
    bank, gw, _statuses = running
    bank.ports[0].ussd(CYRILLIC, code="*100#")
    out = gw.cli("ussd", "port01", "*100#")
    assert out.returncode == 0, out.stderr + gw.log()
    assert out.stdout == CYRILLIC + "\n"
    assert bank.ports[0].state()["ussd"]["requests"][-1]["raw"] == "AA180C3602"  # packed for the Huawei
    out = gw.cli("ussd", "port02", "*102#", "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert (answer["state"], answer["port"], answer["code"], answer["text"], answer["dcs"], answer["status"]) == (
        "answered", "port02", "*102#", "Balance: 100.00 RUB", 15, 0)


def test_a_timeout_a_refusal_and_the_port_still_receiving(running: tuple[Bank, GatewayProcess, Collector],
                                                          broker: PrivateBroker) -> None:
    bank, gw, _statuses = running
    inbound = Collector(broker.url, f"{gw.prefix}/v1/inbound/+")
    try:
        bank.ports[1].fault("ussd", "no-answer")
        bank.ports[1].sms("+79161234567", "before the request")
        out = gw.cli("ussd", "port02", "*100#", "--timeout", "2")
        assert out.returncode == 1
        assert out.stderr.strip() == ("Error: USSD *100# on port port02 failed (timeout): no answer to USSD *100# "
                                      "within 2 s; the session was cancelled")
        assert inbound.wait_until(lambda: any(p["text"] == "before the request" for p in inbound.json_payloads()),
                                  WAIT_S)
        assert not bank.ports[1].state()["ussd"]["open"]
        bank.ports[1].fault("ussd", "unsupported")
        out = gw.cli("ussd", "port02", "*100#")
        assert out.stderr.strip() == ("Error: USSD *100# on port port02 failed (unsupported): the network does not "
                                      "support this request (+CUSD: 4)")
    finally:
        inbound.close()


def test_one_line_errors_before_and_without_a_gateway(running: tuple[Bank, GatewayProcess, Collector]) -> None:
    _bank, gw, _statuses = running
    out = gw.cli("ussd", "port09", "*100#")
    assert (out.returncode, out.stderr.strip()) == (
        1, "Error: no port 'port09' is registered (see `simhost port list`)")
    out = gw.cli("ussd", "port01", '*100#";ATD+79001234567;')
    assert out.returncode == 1
    assert out.stderr.strip().startswith("Error: USSD code '*100#\";ATD+790")
    out = gw.cli("port", "add", "port03", "--url", "/dev/null/none")
    assert out.returncode == 0, out.stderr
    out = gw.cli("ussd", "port03", "*100#", "--timeout", "1")
    assert (out.returncode, out.stderr.strip()) == (1, (
        "Error: no gateway took the request for port port03 within 1 s: is the gateway driving it running (and may "
        "this MQTT account ask for USSD)?"))


def test_a_bad_request_is_answered_with_its_reason(running: tuple[Bank, GatewayProcess, Collector],
                                                   broker: PrivateBroker) -> None:
    _bank, gw, _statuses = running
    request_id = uuid.uuid4().hex
    answers = Collector(broker.url, f"{gw.prefix}/v1/ports/port01/ussd/{request_id}")
    try:
        answers.client.publish(f"{gw.prefix}/v1/ports/port01/ussd",
                               json.dumps({"id": request_id, "code": "*100#\r\nATD112;"}), qos=1)
        assert answers.wait_until(lambda: bool(answers.messages), WAIT_S)
        answer = answers.json_payloads()[0]
        assert (answer["state"], answer["error_kind"]) == ("failed", "bad-request")
        assert "`code`" in answer["error"]
    finally:
        answers.close()
