"""The SMS forward channel through a real gateway worker on the virtual bank: what goes on the air to the customer's
phone, the delivery following its send, one send however many tries, the loop guard, refusals and fallbacks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from simhost.config import Settings
from simhost.db import make_sessions
from simhost.delivery.forward import client_id, forward_text
from simhost.delivery.models import DELIVERED, FAILED, PENDING, Delivery
from simhost.delivery.service import DeliveryService
from simhost.registry.validate import luhn_check_digit
from simhost.sending.models import Send
from simhost.sending.requests import CLIENT_ID_MAX
from simhost_drivers.pdu import DecodedPdu, decode_pdu, join_text
from simhost_drivers.pdu.encoder import count_parts
from tests.delivery.deliverylib import Site, running
from tests.router.routerlib import cli
from tests.sending.sendlib import PREFIX, RECIPIENT, SendRig, send_rig

PHONE = RECIPIENT  # the customer's forward phone: what hwsim puts on the air to it stands for what it receives
SENDER = "+79035550001"
PORTLESS = "+79000000003"  # one of acme's numbers, in no port: it cannot send
POLL_S = 0.05


@dataclass
class Forwarding:
    rig: SendRig
    site: Site
    service: DeliveryService

    def route(self, **fields: Any) -> str:
        fields.setdefault("number", self.rig.number)
        fields.setdefault("sender", SENDER)
        return self.site.route("acme", **fields)

    def wait(self, message_id: str, state: str) -> Delivery:
        assert self.site.wait_state(self.service, [message_id], state), self.site.attempts(message_id)
        return self.site.delivery(message_id)

    def send_of(self, message_id: str) -> Send | None:
        with self.site.sessions() as s:
            return s.scalar(select(Send).where(Send.client_id == client_id(message_id)))

    def sends(self) -> list[Send]:
        with self.site.sessions() as s:
            return list(s.scalars(select(Send)))

    def on_air(self) -> list[DecodedPdu]:
        return [decode_pdu(str(p["pdu"])) for p in self.rig.on_air()]


@contextmanager
def forwarding(tmp_path: Path, *, slot_kind: str = "virtual") -> Iterator[Forwarding]:
    """acme forwards to PHONE; a delivery service and a gateway worker share the database, with a poller that
    wakes the worker for queued sends as the gateway's does."""
    with send_rig(tmp_path, "generic", slot_kind=slot_kind) as rig:
        db_url = rig.engine.url.render_as_string(hide_password=False)
        cli(db_url, "owner", "forward", "acme", "--msisdn", PHONE)
        cli(db_url, "slot", "add", "--bank", "2", "--slot", "1", "--iccid", _iccid("897019900000000003"),
            "--msisdn", PORTLESS, "--kind", "virtual", "--owner", "acme")
        sessions = make_sessions(rig.engine)
        settings = Settings(db_url=db_url, region="RU", topic_prefix=PREFIX)
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(POLL_S):
                if rig.queue.due_ports(["port01"]):
                    rig.worker.notify_send_due()

        poller = threading.Thread(target=poll, name="test-send-poller")
        poller.start()
        try:
            service = DeliveryService(settings, sessions, retry_s=0.2, poll_s=0.2, workers=2)
            with running(service):
                yield Forwarding(rig, Site(db_url, sessions, settings, {}), service)
        finally:
            stop.set()
            poller.join()


def _iccid(body: str) -> str:
    return body + luhn_check_digit(body)


def test_a_message_goes_to_the_customers_phone_from_the_number_it_came_on(tmp_path: Path) -> None:
    with forwarding(tmp_path) as f:
        mid = f.route(text="Your code is 1234")
        f.wait(mid, DELIVERED)
        [sent] = f.on_air()
        send = f.send_of(mid)
        attempts = f.site.attempts(mid)
    assert (sent.address.number, sent.text) == (PHONE, f"{SENDER}: Your code is 1234")
    assert sent.status_report_requested
    assert send is not None
    assert (send.source, send.requested_from, send.from_number) == ("forward", f.rig.number, f.rig.number)
    # the first try queues the send and waits for it; a later one finds it on the air
    assert attempts[0].result == "retry"
    assert attempts[0].error == f"send {send.id} is queued"
    assert attempts[-1].result == DELIVERED


def test_a_long_cyrillic_text_from_an_alphanumeric_sender_goes_in_ucs2_parts(tmp_path: Path) -> None:
    text = "Ваш заказ 5521 собран и передан в доставку; курьер позвонит за час до приезда. " * 2
    with forwarding(tmp_path) as f:
        mid = f.route(sender="MyShop", sender_type="alphanumeric", text=text)
        f.wait(mid, DELIVERED)
        on_air = f.on_air()
    assert len(on_air) == 3
    assert {p.address.number for p in on_air} == {PHONE}
    assert {p.dcs.alphabet if p.dcs else None for p in on_air} == {"ucs2"}
    assert [(c.total, c.seq) for c in (p.concat for p in on_air) if c] == [(3, 1), (3, 2), (3, 3)]
    assert join_text(on_air) == f"MyShop: {text}"


def test_a_call_is_forwarded_as_call(tmp_path: Path) -> None:
    with forwarding(tmp_path) as f:
        mid = f.route(kind="call")
        f.wait(mid, DELIVERED)
        [sent] = f.on_air()
    assert (sent.address.number, sent.text) == (PHONE, f"{SENDER}: [CALL]")


def test_another_try_of_a_delivered_forward_sends_nothing_again(tmp_path: Path) -> None:
    """As when a service stopped after the send but before it recorded the try: the same send is found."""
    with forwarding(tmp_path) as f:
        mid = f.route(text="once only")
        first = f.wait(mid, DELIVERED)
        with f.site.sessions.begin() as s:
            s.execute(update(Delivery).where(Delivery.id == first.id)
                      .values(state=PENDING, next_try_at=datetime.now(UTC)))
        f.service.wake()
        again = f.wait(mid, DELIVERED)
        f.rig.worker.notify_send_due()
        sends = f.sends()
        on_air = f.on_air()
    assert again.tries == first.tries + 1
    assert len(sends) == 1
    assert len(on_air) == 1


def test_the_loop_guard_stops_messages_from_the_forward_phone_or_our_numbers(tmp_path: Path) -> None:
    with forwarding(tmp_path) as f:
        national = "8" + f.rig.number[2:]
        from_phone = f.route(sender="8" + PHONE[2:], sender_type="national")
        from_ours = f.route(sender=national, sender_type="national")
        undecodable = f.route(kind="undecodable", text=None)
        errors = [f.wait(m, FAILED).last_error or "" for m in (from_phone, from_ours, undecodable)]
        sends = f.sends()
        on_air = f.on_air()
    assert errors[0] == f"loop guard: the sender {PHONE} is the customer's forward phone"
    assert errors[1] == f"loop guard: the sender {f.rig.number} is one of simhost's numbers"
    assert errors[2] == "loop guard: kind 'undecodable' is neither an SMS nor a call"
    assert sends == []
    assert on_air == []


def test_a_send_refused_at_intake_fails_the_delivery_with_the_reason(tmp_path: Path) -> None:
    """The number it came on sits in no port, so a shared one would do; there is none."""
    with forwarding(tmp_path) as f:
        mid = f.route(number=PORTLESS)
        error = f.wait(mid, FAILED).last_error or ""
        send = f.send_of(mid)
        on_air = f.on_air()
    assert send is not None
    assert (send.state, send.requested_from) == ("failed", "shared")
    assert error == f"send {send.id} failed (refused): no shared number is registered and enabled"
    assert on_air == []


def test_a_delivery_revived_after_a_refusal_asks_for_a_new_send(tmp_path: Path) -> None:
    """The refused send never went on the air: once the operator has put things right, a new one may."""
    with forwarding(tmp_path, slot_kind="shared") as f:
        cli(f.site.db_url, "slot", "disable", f.rig.number)
        mid = f.route(number=PORTLESS)
        assert "no shared number" in (f.wait(mid, FAILED).last_error or "")
        cli(f.site.db_url, "slot", "enable", f.rig.number)
        cli(f.site.db_url, "delivery", "retry", "--owner", "acme")
        f.service.wake()
        f.wait(mid, DELIVERED)
        sends = {x.client_id: x.state for x in f.sends()}
        texts = [(p.address.number, p.text) for p in f.on_air()]
    assert sends.keys() == {f"forward:{mid}", f"forward-1:{mid}"}
    assert sends[f"forward:{mid}"] == "failed"
    assert sends[f"forward-1:{mid}"] in ("sent", "delivered")
    assert texts == [(PHONE, f"{SENDER}: привет")]


def test_a_number_that_cannot_send_gives_way_to_a_shared_one(tmp_path: Path) -> None:
    with forwarding(tmp_path, slot_kind="shared") as f:
        on_shared = f.route(number=f.rig.number, text="came on the shared number")
        on_portless = f.route(number=PORTLESS, text="came on a number in no port")
        f.wait(on_shared, DELIVERED)
        f.wait(on_portless, DELIVERED)
        shared, portless = f.send_of(on_shared), f.send_of(on_portless)
        texts = sorted((p.address.number, p.text) for p in f.on_air())
    assert shared is not None
    assert portless is not None
    assert (shared.requested_from, shared.from_number) == (f.rig.number, f.rig.number)
    assert (portless.requested_from, portless.from_number) == ("shared", f.rig.number)
    assert texts == [(PHONE, f"{SENDER}: came on a number in no port"), (PHONE, f"{SENDER}: came on the shared number")]


def test_a_send_the_modem_refuses_fails_the_delivery_with_its_code(tmp_path: Path) -> None:
    with forwarding(tmp_path) as f:
        f.rig.modem.fault("cms-error", "21")  # short message transfer rejected, on the AT+CMGS
        mid = f.route()
        error = f.wait(mid, FAILED).last_error or ""
        send = f.send_of(mid)
    assert send is not None
    assert error.startswith(f"send {send.id} failed (cms-21): ")


def test_a_text_too_long_is_cut_with_an_ellipsis_to_the_part_limit() -> None:
    assert forward_text(SENDER, "hi", 1) == f"{SENDER}: hi"
    gsm = forward_text("Shop", "x" * 400, 2)
    assert (gsm[:10], gsm[-4:], len(gsm), count_parts(gsm)) == ("Shop: xxxx", "x...", 306, (2, "gsm7"))
    ucs2 = forward_text("Shop", "Ж" * 400, 2)
    assert (ucs2[:7], ucs2[-2:], len(ucs2), count_parts(ucs2)) == ("Shop: Ж", "Ж…", 134, (2, "ucs2"))


def test_the_client_id_fits_however_long_the_message_id() -> None:
    assert client_id("abc") == "forward:abc"
    assert client_id("abc", 2) == "forward-2:abc"
    long = client_id("m" * CLIENT_ID_MAX)
    assert len(long) <= CLIENT_ID_MAX
    assert long == client_id("m" * CLIENT_ID_MAX) != client_id("m" * (CLIENT_ID_MAX - 1) + "n")
