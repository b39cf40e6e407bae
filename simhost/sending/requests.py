"""Send requests: who may send what from which number, and the queued (or refused) send that records it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from simhost.gateway.message import content_id
from simhost.gateway.spool import OutboxRow, write_outbox
from simhost.inputs import InputError, shown
from simhost.registry import validate
from simhost.registry.models import Customer, SimSlot
from simhost.router.directory import DEDICATED_KINDS
from simhost.sending.models import FAILED, QUEUED, SENDING, Send, SendPart
from simhost.topics import SCHEMA_VERSION, Topics
from simhost_drivers.pdu.encoder import count_parts
from simhost_drivers.pdu.errors import PduError

SHARED = "shared"
CLIENT_ID_MAX = 128
TEXT_MAX = 10_000  # characters; the part limit below is the real bound
DEFAULT_MAX_PARTS = 10
SEND_EXPIRY = timedelta(hours=24)  # a send no gateway took in this time fails `expired`


class RequestError(ValueError):
    """A request that is not a send request at all (a malformed payload): it is kept as a bad payload."""


@dataclass(frozen=True)
class SendRequest:
    """What a customer asked for: `from_` is an MSISDN it may use or "shared"."""

    owner: str
    from_: str
    to: str
    text: str
    report: bool = True
    client_id: str | None = None


def parse_request(payload: Mapping[str, Any], topic_owner: str | None) -> SendRequest:
    """The request in a JSON payload; on a customer's own topic the owner is that customer (and a payload naming
    another one is malformed), on the shared topic the payload names it."""
    owner = payload.get("owner", topic_owner)
    if topic_owner is not None and owner != topic_owner:
        raise RequestError(f"the request names owner {shown(str(owner))} but came on {topic_owner}'s topic")
    fields = {"owner": owner, "from": payload.get("from"), "to": payload.get("to"), "text": payload.get("text")}
    missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
    if missing:
        raise RequestError(f"missing or non-string field(s): {', '.join(missing)}")
    client_id = payload.get("id")
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= CLIENT_ID_MAX):
        raise RequestError(f"`id` must be a string of 1 to {CLIENT_ID_MAX} characters")
    report = payload.get("report", True)
    if not isinstance(report, bool):
        raise RequestError("`report` must be true or false")
    return SendRequest(str(owner), str(fields["from"]), str(fields["to"]), str(fields["text"]), report, client_id)


def send_id(owner_id: int, client_id: str | None) -> str:
    """The send's id: derived from the customer's idempotency key (a repeat is the same send), else fresh."""
    return content_id("send", owner_id, client_id) if client_id is not None else uuid.uuid4().hex


class _RefusedError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept(s: Session, req: SendRequest, *, region: str, source: str, topics: Topics,
           max_parts: int = DEFAULT_MAX_PARTS, now: datetime | None = None) -> tuple[Send, bool]:
    """Store `req` as a queued send, or as a failed one with the reason it is refused (never queued); with its
    outcome in the outbox, in the caller's transaction. (send, False) when its id was seen before: the same send."""
    now = now or datetime.now(UTC)
    customer = s.scalar(select(Customer).where(Customer.login == req.owner.strip().lower()))
    if customer is None:
        raise RequestError(f"no customer with login {shown(req.owner)}")
    sid = send_id(customer.id, req.client_id)
    existing = s.get(Send, sid)
    if existing is not None:
        return existing, False
    row = Send(id=sid, owner_id=customer.id, client_id=req.client_id, requested_from=req.from_[:20],
               to_number=req.to[:20], text=req.text, report=req.report, state=QUEUED, parts=1, tries=0,
               concat_ref=int(sid[:2], 16) if req.client_id else uuid.uuid4().int % 256,
               next_try_at=now, source=source, created_at=now, updated_at=now)
    try:
        if not customer.enabled:
            raise _RefusedError("refused", f"customer {customer.login} is disabled")
        try:
            row.to_number = validate.msisdn(req.to, region)
        except InputError as exc:
            raise _RefusedError("refused", f"the recipient is not a phone number: {exc}") from None
        if len(req.text) > TEXT_MAX:
            raise _RefusedError("refused", f"the text has {len(req.text)} characters, more than {TEXT_MAX}")
        try:
            row.parts, _alphabet = count_parts(req.text)
        except PduError as exc:
            raise _RefusedError("refused", f"the text cannot be sent: {exc}") from None
        if row.parts > max_parts:
            raise _RefusedError("refused", f"the text needs {row.parts} SMS parts, more than the limit of {max_parts}")
        slot = _from_slot(s, customer, req.from_, region)
        row.from_number, row.iccid, row.port = slot.msisdn, slot.iccid, slot.port
    except _RefusedError as refusal:
        row.state, row.reason_code, row.reason = FAILED, refusal.code, refusal.reason
    s.add(row)
    s.flush()
    queue_outcome(s, row, customer.login, topics, now)
    return row, True


def _from_slot(s: Session, customer: Customer, requested: str, region: str) -> SimSlot:
    """The SIM a send goes out on: the customer's own dedicated number, or a shared one (the least busy)."""
    if requested.strip().lower() == SHARED:
        busy = (select(Send.from_number, func.count().label("n")).where(Send.state.in_((QUEUED, SENDING)))
                .group_by(Send.from_number).subquery())
        slots = s.execute(select(SimSlot, func.coalesce(busy.c.n, 0))
                          .outerjoin(busy, busy.c.from_number == SimSlot.msisdn)
                          .where(SimSlot.kind == SHARED, SimSlot.enabled.is_(True))
                          .order_by(func.coalesce(busy.c.n, 0), SimSlot.msisdn)).all()
        if not slots:
            raise _RefusedError("refused", "no shared number is registered and enabled")
        with_port: list[SimSlot] = [slot for slot, _n in slots if slot.port]
        if not with_port:
            raise _RefusedError("no-port", "no shared number sits in a registered port")
        return with_port[0]
    try:
        number = validate.msisdn(requested, region)
    except InputError:
        raise _RefusedError("refused", f"`from` must be one of the customer's numbers or \"shared\", not "
                                  f"{shown(requested)}") from None
    slot = s.scalar(select(SimSlot).where(SimSlot.msisdn == number))
    if slot is None:
        raise _RefusedError("refused", f"{number} is not one of simhost's numbers")
    if slot.kind in DEDICATED_KINDS and slot.owner_id != customer.id:
        raise _RefusedError("refused", f"{number} is not {customer.login}'s number")
    if not slot.enabled:
        raise _RefusedError("refused", f"{number} is disabled")
    if not slot.port:
        raise _RefusedError("no-port", f"{number} sits in no registered port (`simhost slot add --port`)")
    return slot


def outcome_payload(row: Send, login: str, now: datetime, mrs: list[int | None] | None = None) -> dict[str, Any]:
    """What a customer is told of its send on `<prefix>/v1/owners/<login>/sends`."""
    payload: dict[str, Any] = {
        "schema": SCHEMA_VERSION, "id": row.id, "client_id": row.client_id, "owner": login, "state": row.state,
        "from": row.from_number or row.requested_from, "to": row.to_number, "parts": row.parts,
        "at": now.isoformat(),
    }
    if mrs is not None:
        payload["message_references"] = mrs
    if row.reason_code is not None:
        payload["reason_code"], payload["reason"] = row.reason_code, row.reason
    return payload


def queue_outcome(s: Session, row: Send, login: str, topics: Topics, now: datetime) -> list[OutboxRow]:
    """Put the send's present state in the outbox (published once per state); the row inserted, if it was not
    there yet."""
    mrs = None
    if row.state not in (QUEUED, FAILED) or row.reason_code not in (None, "refused", "no-port"):
        mrs = list(s.scalars(select(SendPart.mr).where(SendPart.send_id == row.id).order_by(SendPart.seq)))
    out = {"id": f"{row.id}:{row.state}", "port": row.port or "-", "kind": "send",
           "topic": topics.owner_sends(login),
           "payload": json.dumps(outcome_payload(row, login, now, mrs), ensure_ascii=False),
           "created_at": now, "published_at": None}
    return write_outbox(s.connection(), [out])


def expire(s: Session, topics: Topics, now: datetime | None = None, older_than: timedelta = SEND_EXPIRY) -> int:
    """Fail, as `expired`, the sends still queued `older_than` after they were requested (no gateway drives their
    port, or their SIM never came back); their customers are told. Returns how many."""
    now = now or datetime.now(UTC)
    rows = s.execute(select(Send, Customer.login).join(Customer, Customer.id == Send.owner_id)
                     .where(Send.state == QUEUED, Send.created_at < now - older_than)).all()
    for row, login in rows:
        row.state, row.reason_code, row.updated_at = FAILED, "expired", now
        row.reason = f"not sent within {older_than} of the request (is a gateway driving port {row.port}?)"
        queue_outcome(s, row, login, topics, now)
    return len(rows)
