"""The customers' endpoints: their messages, sends, forwarding settings, deliveries and numbers."""

from __future__ import annotations

from collections import defaultdict
from contextlib import suppress
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from simhost.delivery.models import STATES, Delivery, DeliveryAttempt
from simhost.inputs import InputError
from simhost.registry import forwarding, validate
from simhost.registry.models import Customer, RoutedMessage, SimSlot, WhitelistEntry, bump_version
from simhost.sending.models import FAILED, Send, SendPart
from simhost.sending.requests import CLIENT_ID_MAX, SendRequest, accept
from simhost.web import paging
from simhost.web.auth import AppState, Customer_, State
from simhost.web.problems import ProblemError, not_found, responses
from simhost.web.schemas import (
    DeliveryOut,
    DeliveryPage,
    Forwarding,
    ForwardingChange,
    Message,
    MessageDetail,
    MessagePage,
    Number,
    SendOut,
    SendPage,
    SmsRequest,
    WhitelistOut,
)

router = APIRouter(tags=["customer"], responses=responses(401, 403, 422, 429))
Limit = Annotated[int, Query(ge=1, le=paging.MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]
Time = Annotated[str | None, Query(max_length=64, description="ISO 8601; without an offset, UTC.")]
LIKE_ESCAPE = "\\"


def _time(value: str | None) -> datetime | None:
    return validate.parse_time(value) if value is not None else None


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in `text` taken literally."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def message_filters(query: Select[RoutedMessage], region: str, since: str | None, until: str | None,
                    number: str | None, sender: str | None, kind: str | None,
                    q: str | None) -> Select[RoutedMessage]:
    start, end = _time(since), _time(until)
    if start is not None:
        query = query.where(RoutedMessage.received_at >= start)
    if end is not None:
        query = query.where(RoutedMessage.received_at < end)
    if number is not None:
        with suppress(InputError):  # not a number this region reads: match it as the gateway reported it
            number = validate.msisdn(number, region)
        query = query.where(RoutedMessage.number == number)
    if sender is not None:
        query = query.where(RoutedMessage.sender == sender)
    if kind is not None:
        query = query.where(RoutedMessage.kind == kind)
    if q:
        query = query.where(RoutedMessage.text.like(like_pattern(q), escape=LIKE_ESCAPE))
    return query


@router.get("/messages", response_model=MessagePage)
def list_messages(who: Customer_, st: State, since: Time = None, until: Time = None,
                  number: Annotated[str | None, Query(max_length=64)] = None,
                  sender: Annotated[str | None, Query(max_length=64)] = None,
                  kind: Literal["sms", "call"] | None = None,
                  q: Annotated[str | None, Query(max_length=200, description="Text contains (case as the "
                                                                              "database compares).")] = None,
                  cursor: Cursor = None, limit: Limit = paging.DEFAULT_LIMIT) -> MessagePage:
    """The customer's messages, newest first (`received_at`, then id), a page at a time."""
    query = select(RoutedMessage).where(RoutedMessage.owner == who.name, RoutedMessage.status == "routed")
    query = message_filters(query, st.settings.region, since, until, number, sender, kind, q)
    with st.sessions() as s:
        rows, following = message_rows(s, query, cursor, limit)
    return MessagePage(items=[Message.of(m) for m in rows], next_cursor=following)


def message_rows(s: Session, query: Select[RoutedMessage], cursor: str | None,
                 limit: int) -> tuple[list[RoutedMessage], str | None]:
    """A page of `query`'s messages, newest first, and the cursor of the next page (None on the last)."""
    rows = list(s.scalars(paging.page(query, RoutedMessage.received_at, RoutedMessage.id, cursor, limit)))
    following = paging.encode(rows[limit - 1].received_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], following


@router.get("/messages/{message_id}", response_model=MessageDetail, responses=responses(404))
def get_message(message_id: str, who: Customer_, st: State) -> MessageDetail:
    """One message with the rule that gave it to the customer and the reason."""
    with st.sessions() as s:
        m = s.get(RoutedMessage, message_id)
    if m is None or m.owner != who.name or m.status != "routed":
        raise not_found(f"message {message_id!r}")  # another customer's message is not there either
    return MessageDetail.of(m)


def _mrs(s: Session, ids: list[str]) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = defaultdict(list)
    for send_id, mr in s.execute(select(SendPart.send_id, SendPart.mr).where(SendPart.send_id.in_(ids))
                                 .order_by(SendPart.seq)):
        found[send_id].append(mr)
    return found


@router.post("/sms", status_code=202, response_model=SendOut, responses=responses(409))
def send_sms(body: SmsRequest, who: Customer_, st: State, response: Response,
             idempotency_key: Annotated[str | None, Header(min_length=1, max_length=CLIENT_ID_MAX)] = None) -> SendOut:
    """Queue an SMS. The same `Idempotency-Key` again is the same send (never a second SMS); a send refused
    (a number not the customer's, a text too long, ...) is answered 422 with the reason."""
    return queue_sms(st, who.name, body, idempotency_key, response)


def queue_sms(st: AppState, owner: str, body: SmsRequest, idempotency_key: str | None, response: Response) -> SendOut:
    """Accept `body` as customer `owner`'s send (source `api`): the queued send, the same one again for a repeated
    `Idempotency-Key`; a 409 for a key used for another request, a 422 for a send refused."""
    request = SendRequest(owner, body.from_, body.to, body.text, body.report, idempotency_key)
    with st.sessions.begin() as s:
        row, created = accept(s, request, region=st.settings.region, source="api", topics=st.topics,
                              max_parts=st.settings.send_max_parts)
        if not created and (row.text != body.text or row.requested_from != body.from_[:20]):
            raise ProblemError(409, "Conflict", "this Idempotency-Key was used for another request",
                               kind="idempotency-key-reused", extra={"send": row.id})
        out = SendOut.of(row, _mrs(s, [row.id]).get(row.id, []))
    if row.state == FAILED and row.reason_code in ("refused", "no-port"):
        raise ProblemError(422, "Send refused", row.reason, kind="send-refused",
                           extra={"send": row.id, "reason_code": row.reason_code})
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return out


SendState = Literal["queued", "sending", "sent", "delivered", "failed", "unknown"]


def send_rows(s: Session, query: Select[Send], since: str | None, state: str | None, cursor: str | None,
              limit: int) -> tuple[list[Send], dict[str, list[int | None]], str | None]:
    """A page of `query`'s sends (requested `since`, in `state`), newest first: the sends, their message
    references, and the cursor of the next page (None on the last)."""
    start = _time(since)
    if start is not None:
        query = query.where(Send.created_at >= start)
    if state is not None:
        query = query.where(Send.state == state)
    rows = list(s.scalars(paging.page(query, Send.created_at, Send.id, cursor, limit)))
    following = paging.encode(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], _mrs(s, [r.id for r in rows[:limit]]), following


@router.get("/sends", response_model=SendPage)
def list_sends(who: Customer_, st: State, since: Time = None,
               state: SendState | None = None,
               cursor: Cursor = None, limit: Limit = paging.DEFAULT_LIMIT) -> SendPage:
    """The customer's sends, newest first."""
    with st.sessions() as s:
        rows, mrs, following = send_rows(s, select(Send).where(Send.owner_id == who.id), since, state, cursor, limit)
    return SendPage(items=[SendOut.of(r, mrs.get(r.id, [])) for r in rows], next_cursor=following)


@router.get("/sends/{send_id}", response_model=SendOut, responses=responses(404))
def get_send(send_id: str, who: Customer_, st: State) -> SendOut:
    with st.sessions() as s:
        row = s.get(Send, send_id)
        if row is None or row.owner_id != who.id:
            raise not_found(f"send {send_id!r}")
        return SendOut.of(row, _mrs(s, [row.id]).get(row.id, []))


@router.get("/forwarding", response_model=Forwarding)
def get_forwarding(who: Customer_, st: State) -> Forwarding:
    """Where the customer's messages go besides MQTT (the signing secret itself is never shown again)."""
    with st.sessions() as s:
        c = s.get(Customer, who.id)
    assert c is not None
    return Forwarding.of(c)


def forwarding_change(body: ForwardingChange, region: str) -> forwarding.ForwardingChange:
    """The change a `PUT .../forwarding` asks for, checked: a field left out stays, null or "" clears it."""
    given = {k: ("" if v is None else v) for k, v in body.model_dump(exclude_unset=True).items()
             if k != "rotate_http_secret"}
    return forwarding.check(
        region=region, email=given.get("email"), http_url=given.get("http_url"),
        http_secret=given.get("http_secret") or None, rotate_http_secret=body.rotate_http_secret,
        smpp_system_id=given.get("smpp_system_id"), smpp_password=given.get("smpp_password") or None,
        smpp_long_mode=given.get("smpp_long_mode") or None, msisdn=given.get("msisdn"))


@router.put("/forwarding", response_model=Forwarding)
def put_forwarding(body: ForwardingChange, who: Customer_, st: State) -> Forwarding:
    """Change where the customer's messages go, checked as `simhost owner forward` checks it; a signing secret made
    (a new webhook, or `rotate_http_secret`) is in the answer, only this once."""
    change = forwarding_change(body, st.settings.region)
    with st.sessions.begin() as s:
        c = s.get(Customer, who.id)
        assert c is not None
        made = forwarding.apply(s, c, change, datetime.now(UTC))
        if not change.empty:
            bump_version(s)
    return Forwarding.of(c, made.http_secret, made.smpp_password)


def delivery_page(s: Session, query: Select[Delivery], cursor: str | None, limit: int) -> DeliveryPage:
    rows = list(s.scalars(paging.page(query, Delivery.created_at, Delivery.id, cursor, limit)))
    tries: dict[int, list[DeliveryAttempt]] = defaultdict(list)
    for a in s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_([d.id for d in rows[:limit]]))
                       .order_by(DeliveryAttempt.at, DeliveryAttempt.id)):
        tries[a.delivery_id].append(a)
    following = paging.encode(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return DeliveryPage(items=[DeliveryOut.of(d, tries[d.id]) for d in rows[:limit]], next_cursor=following)


DeliveryState = Literal["pending", "delivered", "failed", "dead"]
assert set(DeliveryState.__args__) == set(STATES)  # type: ignore[attr-defined]


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(who: Customer_, st: State, state: DeliveryState | None = None, cursor: Cursor = None,
                    limit: Limit = paging.DEFAULT_LIMIT) -> DeliveryPage:
    """Deliveries of the customer's messages to its channels, newest first, each with every try."""
    query = select(Delivery).where(Delivery.owner == who.name)
    if state is not None:
        query = query.where(Delivery.state == state)
    with st.sessions() as s:
        return delivery_page(s, query, cursor, limit)


@router.get("/numbers", response_model=list[Number])
def list_numbers(who: Customer_, st: State) -> list[Number]:
    """The customer's own (dedicated) numbers, their kinds and, on hosted-company numbers, the approved senders."""
    with st.sessions() as s:
        slots = list(s.scalars(select(SimSlot).where(SimSlot.owner_id == who.id).order_by(SimSlot.msisdn)))
        names: dict[int, list[WhitelistEntry]] = defaultdict(list)
        for w in s.scalars(select(WhitelistEntry).where(WhitelistEntry.slot_id.in_([x.id for x in slots]))
                           .order_by(WhitelistEntry.sender_key)):
            names[w.slot_id].append(w)
    return [Number(msisdn=x.msisdn, kind=x.kind, enabled=x.enabled,
                   whitelist=[WhitelistOut.of(w, x.msisdn) for w in names[x.id]] if x.kind == "hosted-company"
                   else None) for x in slots]
