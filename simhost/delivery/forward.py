"""The SMS forward channel: each routed message sent on as an SMS to the customer's phone through the send queue."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.delivery.channels import Item, Result
from simhost.delivery.models import SMS
from simhost.gateway.message import CALL_TEXT
from simhost.inputs import InputError
from simhost.registry import validate
from simhost.registry.models import Customer, SimSlot
from simhost.router.directory import DEDICATED_KINDS
from simhost.sending.models import DELIVERED, FAILED, QUEUED, SENDING, SENT, Send
from simhost.sending.requests import CLIENT_ID_MAX, SHARED, TEXT_MAX, RequestError, SendRequest, accept
from simhost.topics import Topics
from simhost_drivers.pdu.encoder import count_parts
from simhost_drivers.pdu.errors import PduError

log = logging.getLogger("simhost.delivery")

SOURCE = "forward"
CLIENT_ID_PREFIX = "forward:"
FORWARDED_KINDS = ("sms", "call")
REFUSED_CODES = ("refused", "no-port")  # a send failed with these never had a part on the air


def client_id(message_id: str, anew: int = 0) -> str:
    """The send's idempotency key: every try of one message's forward asks for the same send. `anew` counts the
    sends refused before it (none of which went on the air): a delivery revived after a refusal asks anew."""
    prefix = CLIENT_ID_PREFIX if not anew else f"forward-{anew}:"
    if len(prefix + message_id) <= CLIENT_ID_MAX:
        return prefix + message_id
    return prefix + hashlib.sha256(message_id.encode()).hexdigest()


def forward_text(sender: str, text: str, max_parts: int) -> str:
    """`<sender>: <text>`, cut to `max_parts` SMS parts with an ellipsis when longer."""
    full = f"{sender}: {text}"[:TEXT_MAX]
    if _fits(full, max_parts):
        return full
    # "…" is not in the GSM alphabet: it would turn a GSM text into UCS-2, which carries less than half as much
    _parts, alphabet = count_parts(full)
    ellipsis = "…" if alphabet == "ucs2" else "..."
    low, high = 0, len(full)  # the longest cut that fits lies in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if _fits(full[:middle] + ellipsis, max_parts):
            low = middle
        else:
            high = middle
    return full[:low].rstrip() + ellipsis


def _fits(text: str, max_parts: int) -> bool:
    try:
        return count_parts(text)[0] <= max_parts
    except PduError:
        return False


def normal_number(value: str, region: str) -> str | None:
    """`value` in E.164, or None when it is no phone number (an alphanumeric sender, a short code)."""
    try:
        return validate.msisdn(value, region)
    except InputError:
        return None


class ForwardChannel:
    """Queues each routed message as a send to the customer's forward phone, from the number it arrived on (or a
    shared one when that number cannot send now), and follows that send until it is on the air.

    Every try of one delivery asks for the same send (its client id is the message's), so a try repeated after a
    crash or a retry never puts a second SMS on the air; the gateway's per-SIM gap paces the sends.
    """

    name = SMS

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.topics = Topics(settings.topic_prefix)

    def deliver(self, item: Item, now: datetime) -> Result:
        started = time.monotonic()
        phone = item.customer.forward_msisdn
        if not phone:
            return Result.failed(f"customer {item.owner} has no forward phone set any more")
        try:
            payload = json.loads(item.payload)
        except ValueError:
            return Result.failed("the routed message is not JSON")
        if not isinstance(payload, dict):
            return Result.failed("the routed message is not a JSON object")
        with self.sessions.begin() as s:
            refusal = self._loop_reason(s, payload, phone)
            if refusal is not None:
                log.info("delivery %d of %s to %s not forwarded: %s", item.delivery_id, item.message_id,
                         item.owner, refusal)
                return Result.failed(refusal)
            owner_id = s.scalar(select(Customer.id).where(Customer.login == item.owner))
            if owner_id is None:
                return Result.failed(f"customer {item.owner} no longer exists")
            request = SendRequest(item.owner, self._from(s, owner_id, payload), phone, self._text(payload),
                                  report=True, client_id=self._client_id(s, owner_id, item.message_id))
            try:
                send, _created = accept(s, request, region=self.settings.region, source=SOURCE, topics=self.topics,
                                        max_parts=self.settings.send_max_parts, now=now)
            except RequestError as exc:
                return Result.failed(f"not forwarded: {exc}")
            return _result(send, int((time.monotonic() - started) * 1000))

    def _text(self, payload: dict[str, object]) -> str:
        sender = str(payload.get("sender") or "")
        text = CALL_TEXT if payload.get("kind") == "call" else str(payload.get("text") or "")
        return forward_text(sender, text, self.settings.send_max_parts)

    def _loop_reason(self, s: Session, payload: dict[str, object], phone: str) -> str | None:
        """Why the routed message must not be forwarded (it would or could come back as another message), or
        None."""
        kind = payload.get("kind")
        if kind not in FORWARDED_KINDS:  # a status report above all: forwarding one could start a loop
            return f"loop guard: kind {str(kind)[:32]!r} is neither an SMS nor a call"
        sender = normal_number(str(payload.get("sender") or ""), self.settings.region)
        if sender is None:
            return None
        if sender == normal_number(phone, self.settings.region):
            return f"loop guard: the sender {sender} is the customer's forward phone"
        if s.scalar(select(SimSlot.id).where(SimSlot.msisdn == sender).limit(1)) is not None:
            return f"loop guard: the sender {sender} is one of simhost's numbers"
        return None

    def _client_id(self, s: Session, owner_id: int, message_id: str) -> str:
        """The key of the message's send: the first one's, or after sends refused at intake the next one's."""
        anew = 0
        while True:
            key = client_id(message_id, anew)
            prior = s.scalar(select(Send).where(Send.owner_id == owner_id, Send.client_id == key))
            if prior is None or not _refused(prior):
                return key
            anew += 1

    def _from(self, s: Session, owner_id: int, payload: dict[str, object]) -> str:
        """The number the message arrived on when the customer may send from it now (ours, enabled, in a port,
        shared or its own), else "shared"."""
        number = normal_number(str(payload.get("number") or ""), self.settings.region)
        if number is None:
            return SHARED
        slot = s.scalar(select(SimSlot).where(SimSlot.msisdn == number))
        if slot is None or not slot.enabled or not slot.port:
            return SHARED
        if slot.kind in DEDICATED_KINDS and slot.owner_id != owner_id:
            return SHARED
        return number


def _refused(send: Send) -> bool:
    """Whether the send was refused before any part of it went on the air (at intake, or as unencodable)."""
    return send.state == FAILED and send.reason_code in REFUSED_CODES


def _result(send: Send, latency_ms: int) -> Result:
    """The delivery's result as the send stands: on the air is delivered; still waiting, try again later."""
    if send.state in (SENT, DELIVERED):
        return Result.delivered(None, latency_ms)
    if send.state in (QUEUED, SENDING):
        return Result.retry(f"send {send.id} is {send.state}", latency_ms=latency_ms)
    return Result.failed(f"send {send.id} {send.state} ({send.reason_code}): {send.reason}", latency_ms=latency_ms)
