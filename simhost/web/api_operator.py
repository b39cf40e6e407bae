"""The operators' endpoints (/admin): ports, SIM slots, customers, whitelists, unrouted messages, deliveries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from simhost.delivery.models import Delivery
from simhost.delivery.queue import enqueue, revive
from simhost.models import InboundPart, Port
from simhost.registry import customers, lookup, validate
from simhost.registry.models import Customer, RoutedMessage, SimSlot, WhitelistEntry, bump_version
from simhost.registry.snapshot import find_customer
from simhost.registry.validate import ValidationError
from simhost.web import paging
from simhost.web.api_customer import Cursor, DeliveryState, Limit, delivery_page, message_rows
from simhost.web.auth import Operator_, State
from simhost.web.problems import ProblemError, not_found, referenced, responses
from simhost.web.schemas import (
    Assign,
    CustomerChange,
    CustomerOut,
    DeliveryPage,
    DetailPage,
    MessageDetail,
    NewCustomer,
    NewWhitelistEntry,
    PortOut,
    Retried,
    Retry,
    SlotOut,
    WhitelistOut,
)

router = APIRouter(prefix="/admin", tags=["operator"], responses=responses(401, 403, 422, 429))
ASSIGNED_RULE = "assigned"  # the rule of a message an operator gave to a customer


@router.get("/ports", response_model=list[PortOut])
def list_ports(_who: Operator_, st: State) -> list[PortOut]:
    """Registered ports (and any that publish a status without being registered here): the last message read on
    each and from which SIM, the messages read today, and the live status from the retained MQTT topic
    `<prefix>/v1/ports/<port>/status` (null when none is known). `GET /admin/ports/stream` follows it live."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    reports = st.board.reports()
    with st.sessions() as s:
        ports = {p.name: p for p in s.scalars(select(Port).order_by(Port.name))}
        last = dict(s.execute(select(InboundPart.port, func.max(InboundPart.received_at)).group_by(InboundPart.port))
                    .all())
        today = dict(s.execute(
            select(InboundPart.port, func.count(func.distinct(func.coalesce(InboundPart.message_id, InboundPart.id))))
            .where(InboundPart.received_at >= midnight).group_by(InboundPart.port)).all())
        out = []
        for name in sorted(ports.keys() | reports.keys()):
            p, at = ports.get(name), last.get(name)
            iccid = s.scalar(select(InboundPart.iccid).where(InboundPart.port == name, InboundPart.received_at == at)
                             .limit(1)) if at is not None else None
            out.append(PortOut(name=name, url=p.url if p else "", driver=p.driver if p else None,
                               enabled=p.enabled if p else False,
                               last_message_at=validate.as_utc(at) if at is not None else None, last_iccid=iccid,
                               messages_today=today.get(name, 0),
                               status=reports.get(name)))
    return out


@router.get("/slots", response_model=list[SlotOut])
def list_slots(_who: Operator_, st: State,
               kind: Literal["shared", "virtual", "hosted-company", "hosted-client"] | None = None,
               owner: Annotated[str | None, Query(max_length=64)] = None) -> list[SlotOut]:
    """SIM slots with their numbers, kinds and owners."""
    query = (select(SimSlot, Customer.login).outerjoin(Customer, SimSlot.owner_id == Customer.id)
             .order_by(SimSlot.bank, SimSlot.slot))
    if kind is not None:
        query = query.where(SimSlot.kind == kind)
    if owner is not None:
        query = query.where(Customer.login == owner.strip().lower())
    with st.sessions() as s:
        return [SlotOut.of(slot, login) for slot, login in s.execute(query)]


def _customer_out(c: Customer, password: str | None = None) -> CustomerOut:
    return CustomerOut.of(c, 0, password)


@router.get("/customers", response_model=list[CustomerOut])
def list_customers(_who: Operator_, st: State) -> list[CustomerOut]:
    with st.sessions() as s:
        counts = dict(s.execute(select(SimSlot.owner_id, func.count()).group_by(SimSlot.owner_id)).all())
        return [CustomerOut.of(c, counts.get(c.id, 0)) for c in s.scalars(select(Customer).order_by(Customer.login))]


@router.post("/customers", status_code=201, response_model=CustomerOut, responses=responses(409))
def create_customer(body: NewCustomer, _who: Operator_, st: State) -> CustomerOut:
    """Register a customer; its MQTT password (also its web password) is in the answer, only this once."""
    try:
        with st.sessions.begin() as s:
            c, password = customers.add_customer(s, body.login, body.name, body.verified)
    except IntegrityError:
        raise ProblemError(409, "Conflict", f"customer {body.login!r} is already registered") from None
    return _customer_out(c, password)


@router.patch("/customers/{login}", response_model=CustomerOut, responses=responses(404))
def change_customer(login: str, body: CustomerChange, _who: Operator_, st: State) -> CustomerOut:
    """Enable or disable a customer (a disabled one receives nothing: its messages are rejected), or mark it
    verified (it may then own dedicated numbers)."""
    with st.sessions.begin() as s:
        c = find_customer(s, login)
        if c is None:
            raise not_found(f"customer {login!r}")
        changed = False
        for field in ("enabled", "verified"):
            value = getattr(body, field)
            if value is not None and getattr(c, field) != value:
                setattr(c, field, value)
                changed = True
        if changed:
            bump_version(s)
        numbers = s.scalar(select(func.count()).select_from(SimSlot).where(SimSlot.owner_id == c.id)) or 0
    return CustomerOut.of(c, numbers)


@router.get("/whitelists", response_model=list[WhitelistOut])
def list_whitelists(_who: Operator_, st: State,
                    number: Annotated[str | None, Query(max_length=64)] = None) -> list[WhitelistOut]:
    """Approved alphanumeric sender names, of one number or of all."""
    query = (select(WhitelistEntry, SimSlot.msisdn).join(SimSlot, WhitelistEntry.slot_id == SimSlot.id)
             .order_by(SimSlot.msisdn, WhitelistEntry.sender_key))
    with st.sessions() as s:
        if number is not None:
            query = query.where(SimSlot.id == lookup.find_slot(s, number, st.settings.region).id)
        return [WhitelistOut.of(w, msisdn) for w, msisdn in s.execute(query)]


@router.post("/whitelists", status_code=201, response_model=WhitelistOut, responses=responses(409))
def add_whitelist(body: NewWhitelistEntry, who: Operator_, st: State) -> WhitelistOut:
    """Approve a sender name on a hosted-company number; the operator is recorded as the approver."""
    name = validate.sender_name(body.sender_name)
    try:
        with st.sessions.begin() as s:
            with referenced():
                slot = lookup.company_slot(s, body.number, st.settings.region)
            if lookup.whitelist_entry(s, slot, name) is not None:
                raise ProblemError(409, "Conflict", f"{name!r} is already on the whitelist of {slot.msisdn}")
            entry = WhitelistEntry(slot_id=slot.id, sender_name=name, sender_key=validate.sender_key(name),
                                   approved_by=who.name, approved_at=datetime.now(UTC))
            s.add(entry)
            bump_version(s)
    except IntegrityError:
        raise ProblemError(409, "Conflict", f"{name!r} is already on that whitelist") from None
    return WhitelistOut.of(entry, slot.msisdn)


@router.delete("/whitelists", status_code=204, responses=responses(404))
def remove_whitelist(_who: Operator_, st: State, number: Annotated[str, Query(max_length=64)],
                     sender_name: Annotated[str, Query(max_length=64)]) -> Response:
    """Withdraw a sender name from a number's whitelist."""
    with st.sessions.begin() as s:
        slot = lookup.company_slot(s, number, st.settings.region)
        entry = lookup.whitelist_entry(s, slot, sender_name)
        if entry is None:
            raise not_found(f"sender name {sender_name.strip()!r} on the whitelist of {slot.msisdn}")
        s.delete(entry)
        bump_version(s)
    return Response(status_code=204)


@router.get("/unrouted", response_model=DetailPage)
def list_unrouted(_who: Operator_, st: State, status: Literal["unrouted", "rejected"] | None = None,
                  reason_code: Annotated[str | None, Query(max_length=64)] = None, cursor: Cursor = None,
                  limit: Limit = paging.DEFAULT_LIMIT) -> DetailPage:
    """Messages no customer got (unassigned or rejected), newest first, with the reason."""
    query = select(RoutedMessage).where(RoutedMessage.status != "routed")
    if status is not None:
        query = query.where(RoutedMessage.status == status)
    if reason_code is not None:
        query = query.where(RoutedMessage.reason_code == reason_code)
    with st.sessions() as s:
        rows, following = message_rows(s, query, cursor, limit)
    return DetailPage(items=[MessageDetail.of(m) for m in rows], next_cursor=following)


@router.post("/unrouted/{message_id}/assign", response_model=MessageDetail, responses=responses(404, 409))
def assign(message_id: str, body: Assign, who: Operator_, st: State) -> MessageDetail:
    """Give an unrouted or rejected message to a customer: it becomes theirs (rule `assigned`), the operator and
    the time are recorded, and it is queued to the customer's forwarding channels. (Its MQTT copy is not
    published: the router publishes, and the API holds no MQTT connection yet.)"""
    now = datetime.now(UTC)
    with st.sessions.begin() as s:
        m = s.get(RoutedMessage, message_id, with_for_update=True)
        if m is None or m.status == "routed":
            if m is not None:
                raise ProblemError(409, "Conflict", f"message {message_id!r} is routed to {m.owner} already")
            raise not_found(f"message {message_id!r}")
        c = find_customer(s, body.owner)
        if c is None:
            raise ValidationError(f"no customer with login {body.owner!r}")
        if not c.enabled:
            raise ValidationError(f"customer {c.login} is disabled: it receives nothing")
        try:
            payload = json.loads(m.payload)
        except ValueError:
            payload = {}
        if isinstance(payload, dict):
            for key in ("status", "reason_code", "reason"):
                payload.pop(key, None)
            payload.update(owner=c.login, rule=ASSIGNED_RULE, assigned_by=who.name, assigned_at=now.isoformat())
        m.status, m.owner, m.rule, m.assigned_by, m.assigned_at = "routed", c.login, ASSIGNED_RULE, who.name, now
        m.topic, m.payload, m.published_at = st.topics.owner_messages(c.login), json.dumps(payload), None
        enqueue(s, [{"id": m.id, "status": "routed", "owner": c.login, "kind": m.kind}], now)
    return MessageDetail.of(m)


@router.get("/deliveries", response_model=DeliveryPage)
def list_all_deliveries(_who: Operator_, st: State, owner: Annotated[str | None, Query(max_length=64)] = None,
                        state: DeliveryState | None = None, cursor: Cursor = None,
                        limit: Limit = paging.DEFAULT_LIMIT) -> DeliveryPage:
    query = select(Delivery)
    if owner is not None:
        query = query.where(Delivery.owner == owner.strip().lower())
    if state is not None:
        query = query.where(Delivery.state == state)
    with st.sessions() as s:
        return delivery_page(s, query, cursor, limit)


@router.post("/deliveries/retry", response_model=Retried)
def retry_deliveries(body: Retry, _who: Operator_, st: State) -> Retried:
    """Make failed and dead deliveries (by id, or all of `owner`'s) pending again, due now."""
    if not body.ids and body.owner is None:
        raise ValidationError("give delivery ids or an owner")
    with st.sessions.begin() as s:
        login = None
        if body.owner is not None:
            c = find_customer(s, body.owner)
            if c is None:
                raise ValidationError(f"no customer with login {body.owner!r}")
            login = c.login
        if body.ids:
            known = set(s.scalars(select(Delivery.id).where(Delivery.id.in_(body.ids))))
            missing = [i for i in body.ids if i not in known]
            if missing:
                raise not_found(f"delivery {missing[0]}")
        count = revive(s, datetime.now(UTC), ids=body.ids, owner=login)
    return Retried(revived=count)

