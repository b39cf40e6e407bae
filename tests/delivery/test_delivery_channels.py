"""Which channels a delivery is queued on, and what the service says of the ones it does not serve."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from simhost.delivery.models import Delivery
from simhost.delivery.service import DeliveryService
from tests.delivery.deliverylib import running, site
from tests.router.routerlib import cli


def test_every_channel_a_customer_has_gets_a_delivery(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        cli(s.db_url, "owner", "forward", "acme", "--email", "ops@acme.test", "--smpp-system-id", "acme",
            "--msisdn", "+79161234567")
        mid = s.route("acme")
        with s.sessions() as db:
            channels = sorted(db.scalars(select(Delivery.channel).where(Delivery.message_id == mid)))
        assert channels == ["email", "smpp", "sms"]
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
