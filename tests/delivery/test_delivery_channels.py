"""Which channels a delivery is queued on, and what the service says of the ones it does not serve."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from simhost.delivery.models import Delivery
from simhost.delivery.queue import enqueue
from simhost.delivery.service import DeliveryService
from simhost.registry.models import RoutedMessage
from tests.delivery.deliverylib import receiver, running, site
from tests.router.routerlib import cli


def test_every_channel_a_customer_has_gets_a_delivery(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        cli(s.db_url, "owner", "forward", "acme", "--email", "ops@acme.test", "--smpp-system-id", "acme",
            "--msisdn", "+79161234567")
        mid = s.route("acme")
        with s.sessions() as db:
            channels = sorted(db.scalars(select(Delivery.channel).where(Delivery.message_id == mid)))
        assert channels == ["email", "smpp", "sms"]
        listed = json.loads(cli(s.db_url, "delivery", "list", "--channel", "smpp", "--json"))
        assert [(d["message_id"], d["channel"]) for d in listed] == [(mid, "smpp")]
        quiet = s.route("beta")  # beta has no channel set up: nothing queued
        with s.sessions() as db:
            assert not db.scalars(select(Delivery).where(Delivery.message_id == quiet)).all()


def test_mail_waiting_for_smtp_settings_is_said_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with site(tmp_path) as s:
        cli(s.db_url, "owner", "forward", "acme", "--email", "ops@acme.test")
        s.route("acme")
        s.route("acme")
        caplog.set_level(logging.WARNING, "simhost.delivery")
        with running(DeliveryService(s.settings, s.sessions, poll_s=0.2)):
            pass
        assert "2 email deliveries wait: this service does not deliver by email (SIMHOST_SMTP is not set)" in (
            caplog.text)


def test_a_queue_thousands_deep_never_hides_another_customers_delivery(tmp_path: Path) -> None:
    """The slow customer's queue holds more due rows than the service looks at in one go."""
    with receiver() as rec, site(tmp_path) as s:
        rec.scripts["/slow"] = ["hold:30"] * 1000
        s.forward("acme", rec.url("/slow"))
        s.forward("beta", rec.url("/fast"))
        now = datetime.now(UTC)
        rows = [{"id": f"deep-{i}", "kind": "sms", "status": "routed", "owner": "acme", "received_at": now,
                 "routed_at": now, "topic": "simhost/v1/owners/acme/messages", "payload": "{}"} for i in range(600)]
        with s.sessions.begin() as db:
            db.execute(insert(RoutedMessage), rows)
            enqueue(db, rows, now)
        fast = s.route("beta")
        with running(DeliveryService(s.settings, s.sessions, retry_s=60, timeout_s=5, poll_s=0.1,
                                     allow_private=True)) as service:
            assert s.wait_state(service, [fast], "delivered", timeout_s=10)
            assert len(rec.on("/slow")) == 1  # one at a time for the slow queue
            rec.release.set()
