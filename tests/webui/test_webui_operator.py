"""The operator's pages in a real browser: the bank board follows the ports' retained MQTT statuses live (a status
published on a private Mosquitto changes its cell without a reload); an unrouted message is assigned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, BrowserContext, expect

from tests.brokerlib import PrivateBroker
from tests.web.weblib import SHARED_NUMBER, T0, Api, serve
from tests.webui.conftest import TIMEOUT_MS, prefix, sign_in


@pytest.fixture
def live_site(tmp_path: Path, broker: PrivateBroker) -> Iterator[tuple[Api, str]]:
    topics = prefix()
    with serve(tmp_path, mqtt_url=broker.url, topic_prefix=topics) as api:
        yield api, topics


@pytest.fixture
def operator(browser: Browser, live_site: tuple[Api, str]) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live_site[0].server.url)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        sign_in(ctx, live_site[0], "ops", "operator")
        yield ctx
    finally:
        ctx.close()


def publish_status(url: str, topic: str, status: dict[str, object]) -> None:
    """A gateway's retained port status."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(host, int(port))
    client.loop_start()
    try:
        client.publish(topic, json.dumps(status), qos=1, retain=True).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_board_follows_port_statuses_live(operator: BrowserContext, live_site: tuple[Api, str],
                                          broker: PrivateBroker) -> None:
    api, topics = live_site
    topic = f"{topics}/v1/ports/port01/status"
    iccid = api.get("/admin/slots", "ops").json[0]["iccid"]  # type: ignore[index]
    publish_status(broker.url, topic, {"state": "ready", "signal_dbm": -71, "operator": "MegaFon",
                                       "registration": "home", "iccid": iccid, "msisdn": "+79000000001",
                                       "storage": {"used": 3, "total": 30}})
    page = operator.new_page()
    page.goto("/operator")
    cell = page.locator('#ports [data-port="port01"]')
    expect(cell.locator(".state")).to_have_text("работает")
    expect(cell.locator(".operator .v")).to_have_text("MegaFon")
    expect(cell.locator(".registration .v")).to_have_text("домашняя сеть")
    expect(cell.locator(".storage .v")).to_have_text("3/30")
    expect(cell.locator(".bars i.on")).to_have_count(4)
    expect(cell.locator(".slot.active")).to_have_count(1)
    expect(page.locator("#broker")).to_have_text("Состояние портов обновляется само")
    page.evaluate("window.notReloaded = true")
    publish_status(broker.url, topic, {"state": "degraded", "signal_dbm": -95, "operator": "MegaFon",
                                       "registration": "searching", "iccid": iccid,
                                       "last_error": "<script>window.pwned=1</script> +CMS ERROR: 500"})
    expect(cell.locator(".state")).to_have_text("с ошибками")
    expect(cell.locator(".bars i.on")).to_have_count(1)
    expect(cell.locator(".last-error .v")).to_have_text("<script>window.pwned=1</script> +CMS ERROR: 500")
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("window.pwned") is None
    publish_status(broker.url, f"{topics}/v1/ports/port02/status", {"state": "dead"})
    expect(page.locator('#ports [data-port="port02"] .state')).to_have_text("не отвечает")


def test_assign_an_unrouted_message(operator: BrowserContext, live_site: tuple[Api, str]) -> None:
    api = live_site[0]
    api.message("u1", status="unrouted", number=SHARED_NUMBER, at=T0, text="кому это?")
    page = operator.new_page()
    page.goto("/operator#unrouted")
    card = page.locator('#unrouted-list li[data-id="u1"]')
    expect(card.locator(".why")).to_have_text("no rule applies")
    card.locator("input[name=owner]").fill("beta")
    card.locator("button[type=submit]").click()
    expect(page.locator("#unrouted-note")).to_have_text("Передано клиенту beta")
    expect(card).to_have_count(0)
    detail = api.get("/messages/u1", "beta").data
    assert (detail["rule"], detail["assigned_by"]) == ("assigned", "ops")
    page.goto("/operator#customers")
    expect(page.locator('#customers-table tr[data-login="beta"]')).to_have_count(1)
    expect(page.locator("#numbers-table tbody tr")).to_have_count(2)
