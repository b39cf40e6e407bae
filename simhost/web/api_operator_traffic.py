"""The operators' traffic endpoints (/admin): every customer's messages (routed and not) and sends, and sending an
SMS on a customer's behalf."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import select

from simhost.registry import customers
from simhost.registry.models import Customer, RoutedMessage
from simhost.sending.models import Send
from simhost.sending.requests import CLIENT_ID_MAX
from simhost.web import paging
from simhost.web.api_customer import Cursor, Limit, SendState, Time, message_filters, message_rows, queue_sms, send_rows
from simhost.web.auth import Operator_, State
from simhost.web.problems import referenced, responses
from simhost.web.schemas import DetailPage, MessageDetail, OperatorSmsRequest, OwnedSendOut, OwnedSendPage, SendOut

router = APIRouter(prefix="/admin", tags=["operator"], responses=responses(401, 403, 422, 429))
Login = Annotated[str | None, Query(max_length=64, description="A customer's login.")]


def _login(st: State, owner: str) -> str:
    with st.sessions() as s, referenced():
        return customers.find(s, owner).login


@router.get("/messages", response_model=DetailPage)
def list_messages(_who: Operator_, st: State, owner: Login = None,
                  status: Literal["routed", "unrouted", "rejected"] | None = None, since: Time = None,
                  until: Time = None, number: Annotated[str | None, Query(max_length=64)] = None,
                  sender: Annotated[str | None, Query(max_length=64)] = None,
                  kind: Literal["sms", "call"] | None = None, q: Annotated[str | None, Query(max_length=200)] = None,
                  cursor: Cursor = None, limit: Limit = paging.DEFAULT_LIMIT) -> DetailPage:
    """Every message the router decided on, newest first, routed and not (`simhost inbox`): each with its owner or
    the reason it has none. Paged as the customers' `GET /messages` is."""
    query = select(RoutedMessage)
    if owner is not None:
        query = query.where(RoutedMessage.owner == _login(st, owner))
    if status is not None:
        query = query.where(RoutedMessage.status == status)
    query = message_filters(query, st.settings.region, since, until, number, sender, kind, q)
    with st.sessions() as s:
        rows, following = message_rows(s, query, cursor, limit)
    return DetailPage(items=[MessageDetail.of(m) for m in rows], next_cursor=following)


def _owned(out: SendOut, login: str) -> OwnedSendOut:
    return OwnedSendOut.model_validate({**out.model_dump(by_alias=True), "owner": login})


@router.get("/sends", response_model=OwnedSendPage)
def list_sends(_who: Operator_, st: State, owner: Login = None, state: SendState | None = None,
               since: Time = None, cursor: Cursor = None, limit: Limit = paging.DEFAULT_LIMIT) -> OwnedSendPage:
    """Every customer's sends, newest first, with their states (`simhost sends`)."""
    query = select(Send)
    if owner is not None:
        login = _login(st, owner)
        query = query.where(Send.owner_id == select(Customer.id).where(Customer.login == login).scalar_subquery())
    with st.sessions() as s:
        rows, mrs, following = send_rows(s, query, since, state, cursor, limit)
        logins = dict(s.execute(select(Customer.id, Customer.login)
                                .where(Customer.id.in_({r.owner_id for r in rows}))).all())
    return OwnedSendPage(items=[_owned(SendOut.of(r, mrs.get(r.id, [])), logins[r.owner_id]) for r in rows],
                         next_cursor=following)


@router.post("/sms", status_code=202, response_model=OwnedSendOut, responses=responses(409))
def send_sms(body: OperatorSmsRequest, _who: Operator_, st: State, response: Response,
             idempotency_key: Annotated[str | None, Header(min_length=1, max_length=CLIENT_ID_MAX)] = None
             ) -> OwnedSendOut:
    """Queue an SMS on customer `owner`'s behalf (`simhost send --owner`), from one of its numbers or "shared";
    replies to it become the customer's. `Idempotency-Key` is the customer's: the same key again (from the customer
    or an operator) is the same send."""
    login = _login(st, body.owner)
    return _owned(queue_sms(st, login, body, idempotency_key, response), login)
