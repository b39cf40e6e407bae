"""Webhook delivery against a real HTTP server: signed POSTs, retries with the same Idempotency-Key, 410, refused
private addresses, per-customer queues, restarts, secret rotation and the `simhost delivery` commands."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from simhost.config import Settings
from simhost.db import make_engine, make_sessions
from simhost.delivery.models import DEAD, DELIVERED, FAILED, PENDING
from simhost.delivery.service import DeliveryService
from tests.cli.clilib import invoke
from tests.delivery.deliverylib import receiver, running, site, verify
from tests.router.routerlib import cli, inbound, router_site

FAST = {"retry_s": 0.05, "timeout_s": 0.5, "poll_s": 0.2, "allow_private": True}


def test_a_routed_message_is_posted_signed_with_its_headers(tmp_path: Path) -> None:
    """Through the real router: the inbound message is routed, queued with the decision and POSTed."""
    with receiver() as rec, router_site(tmp_path) as rs:
        out = cli(rs.db_url, "owner", "forward", "acme", "--http-url", rec.url("/hook"))
        secret = out.split("(shown only now): ")[1].split()[0]
        engine = make_engine(rs.db_url)
        sessions = make_sessions(engine)
        try:
            with running(DeliveryService(Settings(db_url=rs.db_url), sessions, **FAST)):
                message = inbound("hello acme")
                rs.pub.publish("simhost/v1/inbound/port01", message)
                assert rec.wait_until(lambda: len(rec.requests) >= 1), "nothing was POSTed"
                call = inbound("[CALL]", kind="call")
                rs.pub.publish("simhost/v1/inbound/port01", call)
                assert rec.wait_until(lambda: len(rec.requests) >= 2), "the call was not POSTed"
        finally:
            engine.dispose()
    first, second = rec.requests
    assert first.path == "/hook"
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert first.headers["X-Simhost-Event"] == "message"
    assert first.headers["Idempotency-Key"] == message["id"]
    assert verify(first.headers["X-Simhost-Signature"], first.body, secret)
    assert not verify(first.headers["X-Simhost-Signature"], first.body + b" ", secret)
    payload = json.loads(first.body)
    assert payload["id"] == message["id"]
    assert payload["owner"] == "acme"
    assert payload["text"] == "hello acme"
    assert second.headers["X-Simhost-Event"] == "call"
    assert second.headers["Idempotency-Key"] == call["id"]


def test_500_then_a_timeout_then_200_is_delivered_with_every_attempt_recorded(tmp_path: Path) -> None:
    with receiver() as rec, site(tmp_path) as s:
        s.forward("acme", rec.url("/hook"))
        rec.scripts["/hook"] = ["500", "hold:3"]
        service = DeliveryService(s.settings, s.sessions, **FAST)
        with running(service):
            mid = s.route("acme")
            assert s.wait_state(service, [mid], DELIVERED)
        attempts = s.attempts(mid)
    assert [(a.result, a.status_code) for a in attempts] == [("retry", 500), ("retry", None), (DELIVERED, 200)]
    assert "no answer within 0.5 s" in (attempts[1].error or "")
    assert attempts[1].latency_ms >= 400
    assert rec.keys("/hook") == [mid] * 3
    assert all(verify(r.headers["X-Simhost-Signature"], r.body, s.secrets["acme"]) for r in rec.requests)
    d = s.delivery(mid)
    assert d.tries == 3
    assert d.delivered_at is not None
    assert d.last_error is None


def test_every_try_failing_ends_dead(tmp_path: Path) -> None:
    with receiver() as rec, site(tmp_path) as s:
        s.forward("acme", rec.url("/hook"))
        rec.scripts["/hook"] = ["503"] * 5
        service = DeliveryService(s.settings, s.sessions, **{**FAST, "retry_s": 0.01}, max_tries=4)
        with running(service):
            mid = s.route("acme")
            assert s.wait_state(service, [mid], DEAD)
    assert [a.result for a in s.attempts(mid)] == ["retry", "retry", "retry", DEAD]
    assert s.delivery(mid).last_error == "HTTP 503"


def test_410_stops_deliveries_to_that_url(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with receiver() as rec, site(tmp_path) as s, caplog.at_level(logging.WARNING, "simhost.delivery"):
        s.forward("acme", rec.url("/gone"))
        rec.scripts["/gone"] = ["410"]
        service = DeliveryService(s.settings, s.sessions, **FAST)
        with running(service):
            mid = s.route("acme")
            assert s.wait_state(service, [mid], FAILED)
    assert len(rec.on("/gone")) == 1
    assert "410" in (s.delivery(mid).last_error or "")
    assert any("410 Gone" in r.getMessage() and "stop" in r.getMessage() for r in caplog.records)


def test_a_private_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    with receiver() as rec, site(tmp_path) as s:
        s.forward("acme", rec.url("/hook"))
        service = DeliveryService(s.settings, s.sessions, **{**FAST, "allow_private": False})
        with running(service):
            mid = s.route("acme")
            assert s.wait_state(service, [mid], FAILED)
    assert rec.requests == []
    error = s.delivery(mid).last_error or ""
    assert "127.0.0.1" in error
    assert "loopback, private" in error
    assert "SIMHOST_DELIVERY_ALLOW_PRIVATE" in error


def test_a_slow_endpoint_delays_only_its_own_customer(tmp_path: Path) -> None:
    with receiver() as rec, site(tmp_path) as s:
        s.forward("acme", rec.url("/slow"))
        s.forward("beta", rec.url("/fast"))
        rec.scripts["/slow"] = ["hold:30"]
        service = DeliveryService(s.settings, s.sessions, **{**FAST, "timeout_s": 30.0}, workers=4)
        with running(service):
            slow = [s.route("acme") for _ in range(3)]
            assert rec.wait_until(lambda: len(rec.on("/slow")) == 1)
            fast = [s.route("beta") for _ in range(5)]
            assert s.wait_state(service, fast, DELIVERED)
            # acme's first request is still unanswered, and its queue has one request in flight only
            assert len(rec.on("/slow")) == 1
            assert rec.on("/slow")[0].answered is None
            assert all(s.delivery(m).state == PENDING for m in slow)
            rec.release.set()
            assert s.wait_state(service, slow, DELIVERED)
    assert sorted(rec.keys("/fast")) == sorted(fast)


def test_a_service_stopped_mid_stream_and_started_again_loses_nothing(tmp_path: Path) -> None:
    with receiver() as rec, site(tmp_path) as s:
        s.forward("acme", rec.url("/a"))
        s.forward("beta", rec.url("/b"))
        ids = [s.route(owner) for _ in range(15) for owner in ("acme", "beta")]
        rec.scripts["/a"] = ["500", "200", "hold:0.3"] * 5
        first = DeliveryService(s.settings, s.sessions, **FAST)
        with running(first):
            assert rec.wait_until(lambda: len(rec.requests) >= 8)
        assert any(s.delivery(m).state == PENDING for m in ids), "everything went before the stop"
        second = DeliveryService(s.settings, s.sessions, **FAST)
        with running(second):
            assert s.wait_state(second, ids, DELIVERED)
    assert set(rec.keys()) == set(ids)


def test_rotation_sends_both_signatures_for_a_day(tmp_path: Path) -> None:
    with receiver() as rec, site(tmp_path) as s:
        cli(s.db_url, "owner", "forward", "acme", "--http-url", rec.url("/hook"), "--http-secret",
            "old-secret-0123456789")
        out = cli(s.db_url, "owner", "forward", "acme", "--rotate-http-secret")
        new = out.split("(shown only now): ")[1].split()[0]
        assert "24 hours" in out
        service = DeliveryService(s.settings, s.sessions, **FAST)
        with running(service):
            mid = s.route("acme")
            assert s.wait_state(service, [mid], DELIVERED)
    (req,) = rec.requests
    header = req.headers["X-Simhost-Signature"]
    assert header.count("v1=") == 2
    assert verify(header, req.body, new)
    assert verify(header, req.body, "old-secret-0123456789")
    assert not verify(header, req.body, "some-other-secret")


def test_only_routed_messages_of_customers_with_a_url_are_queued(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        s.forward("acme", "http://127.0.0.1:9/hook")
        s.route("beta")  # no URL
        s.route("acme", status="rejected")
        mid = s.route("acme", kind="call")
        out = cli(s.db_url, "delivery", "list", "--json")
    rows = json.loads(out)
    assert [(r["message_id"], r["event"], r["state"]) for r in rows] == [(mid, "call", PENDING)]


def test_delivery_list_and_retry(tmp_path: Path) -> None:
    with receiver() as rec, site(tmp_path) as s:
        s.forward("acme", rec.url("/hook"))
        s.forward("beta", rec.url("/other"))
        rec.scripts["/hook"] = ["410", "410"]
        service = DeliveryService(s.settings, s.sessions, **FAST)
        with running(service):
            gone = [s.route("acme"), s.route("acme")]
            ok = s.route("beta")
            assert s.wait_state(service, gone, FAILED)
            assert s.wait_state(service, [ok], DELIVERED)
        failed = json.loads(cli(s.db_url, "delivery", "list", "--failed", "--json"))
        assert sorted(r["message_id"] for r in failed) == sorted(gone)
        assert all(r["tries"] == 1 and r["attempts"] == 1 and "410" in r["last_error"] for r in failed)
        table = cli(s.db_url, "delivery", "list", "--owner", "beta")
        assert ok in table
        assert "delivered" in table
        assert gone[0] not in table
        one = s.delivery(gone[0]).id
        assert "1 delivery pending again" in cli(s.db_url, "delivery", "retry", str(one))
        assert s.delivery(gone[0]).state == PENDING
        assert s.delivery(gone[1]).state == FAILED
        assert "1 delivery pending again" in cli(s.db_url, "delivery", "retry", "--owner", "acme")
        assert "nothing to retry" in cli(s.db_url, "delivery", "retry", "--owner", "beta")
        with running(service):
            assert s.wait_state(service, gone, DELIVERED)
    assert rec.keys("/hook").count(gone[0]) == 2




def test_owner_forward_secret_rules(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        rotate = invoke("--db", s.db_url, "owner", "forward", "acme", "--rotate-http-secret")
        assert rotate.exit_code == 1
        assert "no HTTP secret to rotate" in rotate.output
        short = invoke("--db", s.db_url, "owner", "forward", "acme", "--http-secret", "short")
        assert short.exit_code == 1
        assert "16 to 128" in short.output
        out = s.forward("acme", "https://example.com/hook")
        assert s.secrets["acme"].startswith("whsec_")
        again = s.forward("acme", "https://example.com/other")
        assert "shown only now" not in again, "a second URL must keep the secret"
        assert s.secrets["acme"] in out
