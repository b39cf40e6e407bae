"""The router service against a real broker: no message, however malformed, stops routing or is dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.router.routerlib import PREFIX, WAIT_S, RouterSite, inbound, router_site

BASE = f"{PREFIX}/v1"
# every topic the router reads, as a customer, a gateway or another system could publish on it
TOPICS = (f"{BASE}/inbound/port01", f"{BASE}/sent", f"{BASE}/owners/acme/sent", f"{BASE}/gateways/gw1/status",
          f"{BASE}/send", f"{BASE}/owners/acme/send")

POISON: list[tuple[str, bytes]] = [
    ("deep-array", b"[" * 100_000 + b"]" * 100_000),
    ("deep-object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("not-utf8", b"\xff\xfe{\x00"),
    ("not-json", b"{nope"),
    ("a-number", b"5"),
    ("ports-is-a-number", json.dumps({"state": "offline", "gateway": "gw1", "ports": 5}).encode()),
    ("ports-of-objects", json.dumps({"state": "offline", "ports": [{"x": 1}]}).encode()),
    ("id-is-a-list", json.dumps({"id": ["x"], "kind": "sms"}).encode()),
    ("id-too-long", json.dumps({"id": "x" * 10_000, "kind": "sms"}).encode()),
    ("owner-is-an-object", json.dumps({"from": "+79000000002", "to": "+79161111111", "owner": {}}).encode()),
    ("huge", b'{"id": "' + b"a" * (1024 * 1024) + b'"}'),
    ("nul-in-text", json.dumps(inbound("a\x00b")).encode()),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with router_site(tmp_path_factory.mktemp("router")) as s:
        yield s


def routes_normally(site: RouterSite) -> None:
    message = inbound("after the poison")
    site.pub.publish(f"{BASE}/inbound/port01", message)
    assert site.wait_routed(message["id"], WAIT_S), "a normal message was not routed after a bad one"


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize(("name", "payload"), POISON, ids=[p[0] for p in POISON])
def test_one_bad_message_never_stops_routing(site: RouterSite, topic: str, name: str, payload: bytes) -> None:
    site.pub.publish(topic, payload)
    routes_normally(site)


def test_a_bad_message_is_kept_on_unrouted_with_the_error_and_acknowledged(site: RouterSite) -> None:
    payload = b"[" * 100_000 + b"]" * 100_000
    site.pub.publish(f"{BASE}/inbound/port01", payload)
    routes_normally(site)

    def kept() -> bool:
        return any(p.get("raw_bytes") == len(payload) for p in site.unrouted_with("bad-payload"))
    assert site.unrouted.wait_until(kept, WAIT_S)
    found = next(p for p in site.unrouted_with("bad-payload") if p.get("raw_bytes") == len(payload))
    assert "nests" in found["reason"], found["reason"]
    assert "inbound/port01" in found["reason"], found["reason"]
    assert len(found["raw"]) < len(payload)  # kept for inspection, cut to a sane size
    assert site.router.subscriber.is_connected()


def test_a_gateway_status_with_bad_ports_is_kept(site: RouterSite) -> None:
    site.pub.publish(f"{BASE}/gateways/gw-bad/status", {"state": "offline", "gateway": "gw-bad", "ports": 5})

    def kept() -> bool:
        return any("gateways/gw-bad/status" in p.get("topic", "") for p in site.unrouted_with("bad-payload"))
    assert site.unrouted.wait_until(kept, WAIT_S)


def test_a_message_on_another_ports_topic_is_a_port_mismatch(site: RouterSite) -> None:
    message = inbound("claims port01's number", port="port02")
    site.pub.publish(f"{BASE}/inbound/port02", message)
    assert site.unrouted.wait_until(
        lambda: any(p["id"] == message["id"] for p in site.unrouted_with("port-mismatch")), WAIT_S)
    assert message["id"] not in site.routed_ids()


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=4),
                     max_leaves=20)
_payloads = st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode()) | st.dictionaries(
    st.sampled_from(["id", "kind", "number", "iccid", "port", "sender", "sender_type", "text", "received_at",
                     "from", "to", "owner", "at", "state", "ports", "gateway", "reason", "report"]),
    _json, max_size=8).map(lambda d: json.dumps(d).encode())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(topic=st.sampled_from(TOPICS), payload=_payloads)
def test_arbitrary_payloads_on_every_topic_never_stop_routing(tmp_path: Path, site: RouterSite, topic: str,
                                                              payload: bytes) -> None:
    site.pub.publish(topic, payload)
    message = inbound("still routed")
    site.pub.publish(f"{BASE}/inbound/port01", message)
    assert site.wait_routed(message["id"], 1.0), f"not routed within a second after {payload[:80]!r} on {topic}"
