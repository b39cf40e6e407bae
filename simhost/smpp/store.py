"""The SMPP server's database work: binds checked against the registry, deliveries leased to a bound customer
and recorded as its answers come, submitted messages stored as sends, and the receipts owed for them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from simhost.delivery.channels import Result
from simhost.delivery.models import PENDING, SMPP, Delivery, DeliveryAttempt
from simhost.delivery.queue import record_try
from simhost.registry.models import Customer, RoutedMessage
from simhost.security.mqttauth import check_password, hash_password
from simhost.sending.models import DELIVERED, FINAL, Send
from simhost.sending.requests import SendRequest, accept
from simhost.topics import Topics

RECEIPT_ALWAYS = "smpp"  # registered_delivery 1: a receipt for every final state
RECEIPT_ON_FAILURE = "smpp-err"  # registered_delivery 2: only when the send failed
_DUMMY_HASH = hash_password("not a password")


@dataclass(frozen=True)
class Account:
    login: str
    customer_id: int
    long_mode: str


@dataclass(frozen=True)
class Leased:
    """A delivery leased to a bound session: the routed message to send and the tries made before."""

    delivery_id: int
    message_id: str
    tries: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Receipt:
    send_id: str
    state: str
    reason_code: str | None
    from_number: str
    to_number: str
    created_at: datetime
    updated_at: datetime
    text: str
    parts: int


class Store:
    def __init__(self, sessions: sessionmaker[Session], topics: Topics, region: str, max_parts: int, *,
                 retry_s: float, max_tries: int) -> None:
        self.sessions = sessions
        self.topics = topics
        self.region = region
        self.max_parts = max_parts
        self.retry_s = retry_s
        self.max_tries = max_tries

    def authenticate(self, system_id: str, password: str) -> Account | str:
        """The customer binding as `system_id`, or why the bind is refused (the client is told only that the
        credentials are wrong, whichever of the two is: system_ids are not to be found by trying)."""
        with self.sessions() as s:
            c = s.scalar(select(Customer).where(Customer.smpp_system_id == system_id))
        if c is None or not c.smpp_password_hash:
            check_password(password, _DUMMY_HASH)  # as long as a real check
            return "no customer has this system_id" if c is None else f"customer {c.login} has no SMPP password"
        if not check_password(password, c.smpp_password_hash):
            return f"wrong password for customer {c.login}"
        if not c.enabled:
            return f"customer {c.login} is disabled"
        return Account(c.login, c.id, c.smpp_long_mode or "udh")

    def lease(self, owner: str, limit: int, lease: timedelta) -> list[Leased]:
        """Up to `limit` of `owner`'s due SMPP deliveries, oldest first, each leased (its due time moved past
        `lease`) so that no other session or server takes it meanwhile."""
        now = datetime.now(UTC)
        leased: list[Leased] = []
        with self.sessions.begin() as s:
            rows = s.execute(select(Delivery.id, Delivery.message_id, Delivery.tries, Delivery.next_try_at,
                                    RoutedMessage.payload)
                             .join(RoutedMessage, RoutedMessage.id == Delivery.message_id)
                             .where(Delivery.owner == owner, Delivery.channel == SMPP, Delivery.state == PENDING,
                                    Delivery.next_try_at <= now)
                             .order_by(Delivery.id).limit(limit)).all()
            for row in rows:
                taken = s.execute(update(Delivery).where(Delivery.id == row.id, Delivery.state == PENDING,
                                                         Delivery.next_try_at == row.next_try_at)
                                  .values(next_try_at=now + lease))
                if getattr(taken, "rowcount", 0) == 1:
                    leased.append(Leased(row.id, row.message_id, row.tries, json.loads(row.payload)))
        return leased

    def finish(self, owner: str, leased: Leased, outcome: Result) -> str:
        with self.sessions.begin() as s:
            return record_try(s, leased.delivery_id, leased.tries, outcome, datetime.now(UTC),
                              retry_s=self.retry_s, max_tries=self.max_tries, owner=owner)

    def release(self, leased: Leased, reason: str) -> None:
        """Give a leased delivery back, due now, its try not counted (the customer went away before answering):
        it goes out again as soon as the customer binds."""
        now = datetime.now(UTC)
        with self.sessions.begin() as s:
            s.execute(insert(DeliveryAttempt).values(delivery_id=leased.delivery_id, at=now, result="released",
                                                     status_code=None, error=reason, latency_ms=0))
            s.execute(update(Delivery).where(Delivery.id == leased.delivery_id, Delivery.state == PENDING)
                      .values(next_try_at=now))

    def submit(self, login: str, from_: str, to: str, text: str, receipt: str | None,
               client_id: str | None) -> tuple[str, str, str | None]:
        """Store a submitted message as a send: (send id, its state, the reason it was refused)."""
        request = SendRequest(login, from_ or "shared", to, text, receipt is not None, client_id)
        with self.sessions.begin() as s:
            row, _created = accept(s, request, region=self.region, source="smpp", topics=self.topics,
                                   max_parts=self.max_parts)
            row.receipt_channel = receipt
            return row.id, row.state, row.reason

    def receipts(self, login: str, limit: int) -> list[Receipt]:
        """Receipts owed to `login` for sends that reached a final state (those asked only for failures are
        settled here without one when the send was delivered)."""
        with self.sessions.begin() as s:
            rows = s.scalars(select(Send).join(Customer, Customer.id == Send.owner_id)
                             .where(Customer.login == login, Send.receipt_channel.is_not(None),
                                    Send.receipt_sent_at.is_(None), Send.state.in_(FINAL))
                             .order_by(Send.updated_at).limit(limit)).all()
            owed: list[Receipt] = []
            for row in rows:
                if row.receipt_channel == RECEIPT_ON_FAILURE and row.state == DELIVERED:
                    row.receipt_sent_at = datetime.now(UTC)
                    continue
                owed.append(Receipt(row.id, row.state, row.reason_code, row.from_number or row.requested_from,
                                    row.to_number, _aware(row.created_at), _aware(row.updated_at), row.text,
                                    row.parts))
            return owed

    def receipt_sent(self, send_id: str) -> None:
        with self.sessions.begin() as s:
            s.execute(update(Send).where(Send.id == send_id).values(receipt_sent_at=datetime.now(UTC)))


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
