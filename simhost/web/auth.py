"""Who a request is: an API key (`Authorization: Bearer sk_...`) or a web session (a signed HttpOnly cookie
from `POST /api/v1/session`), limited per key or session; and the session endpoints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.registry.models import Customer
from simhost.security.apikeys import Principal, authenticate_key, sign_in
from simhost.security.models import Operator, WebSecret
from simhost.topics import Topics
from simhost.web.live import MessageHub, PortBoard
from simhost.web.problems import ProblemError, responses, unauthorized
from simhost.web.ratelimit import RateLimiter

COOKIE = "simhost_session"
SESSION_TTL_S = 12 * 3600
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-Requested-With"

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sk_<id>_<secret>`.")
cookie = APIKeyCookie(name=COOKIE, auto_error=False,
                      description=f"A web session from POST /api/v1/session; unsafe methods also need the header "
                                  f"{CSRF_HEADER}.")


@dataclass(frozen=True)
class AppState:
    """What the handlers share: settings, database sessions, the limiter, the session-signing secret, the live
    feeds."""

    settings: Settings
    sessions: sessionmaker[Session]
    limiter: RateLimiter
    secret: bytes
    topics: Topics
    hub: MessageHub
    board: PortBoard


def app_state(request: Request) -> AppState:
    return cast(AppState, request.app.state.simhost)


State = Annotated[AppState, Depends(app_state)]


def load_secret(sessions: sessionmaker[Session]) -> bytes:
    """The key session cookies are signed with: made once and kept in the database, so every web server on it
    (and a restarted one) accepts the same cookies."""
    with sessions() as s:
        found = s.scalar(select(WebSecret.secret).where(WebSecret.id == 1))
    if found is None:
        try:
            with sessions.begin() as s:
                s.add(WebSecret(id=1, secret=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another server made it first: use theirs
        with sessions() as s:
            found = s.scalar(select(WebSecret.secret).where(WebSecret.id == 1))
    assert found is not None
    return found.encode()


def _fingerprint(password_hash: str | None) -> str:
    # a new password ends the sessions signed in with the old one
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def session_cookie(secret: bytes, who: Principal, password_hash: str | None, now: float | None = None) -> str:
    payload = {"k": who.kind, "i": who.id, "e": int((now or time.time()) + SESSION_TTL_S),
               "f": _fingerprint(password_hash)}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()}"


def _session_principal(s: Session, secret: bytes, value: str) -> Principal | None:
    body, _, mac = value.partition(".")
    if not hmac.compare_digest(mac, hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        kind, holder, expires, fingerprint = payload["k"], int(payload["i"]), int(payload["e"]), str(payload["f"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < time.time():
        return None
    found = _holder(s, kind, holder)
    if found is None or not hmac.compare_digest(fingerprint, _fingerprint(found[1])):
        return None
    return found[0]


def _holder(s: Session, kind: str, holder: int) -> tuple[Principal, str | None] | None:
    """The operator or (enabled) customer `holder`, with the hash of the password it signs in with."""
    if kind == "operator":
        operator = s.get(Operator, holder)
        return (Principal("operator", operator.id, operator.name), operator.password_hash) if operator else None
    customer = s.get(Customer, holder)
    if customer is None or not customer.enabled:
        return None
    return Principal("customer", customer.id, customer.login), customer.web_password_hash or customer.mqtt_password_hash


def _limit(st: AppState, key: str) -> None:
    wait = st.limiter.take(key)
    if wait > 0:
        raise ProblemError(429, "Too Many Requests", "slow down: too many requests for this key",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})


def _client(request: Request) -> str:
    return f"ip:{request.client.host if request.client else '-'}"


def principal(request: Request, st: State,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
              session: Annotated[str | None, Depends(cookie)]) -> Principal:
    """The key's or the session's holder; a failed try counts against the client's address."""
    who: Principal | None = None
    with st.sessions.begin() as s:
        if creds is not None:
            who = authenticate_key(s, creds.credentials)
        elif session is not None:
            who = _session_principal(s, st.secret, session)
            if who is not None and request.method in UNSAFE_METHODS and not request.headers.get(CSRF_HEADER):
                raise ProblemError(403, "Forbidden", f"a request signed in by cookie must carry the header "
                                   f"{CSRF_HEADER} to change anything", kind="csrf")
    if who is None:
        _limit(st, _client(request))
        if creds is None and session is None:
            raise unauthorized("give an API key as `Authorization: Bearer sk_...`, or sign in")
        raise unauthorized("the API key or session is not valid (unknown, revoked or expired)")
    _limit(st, f"key:{who.key_id}" if who.key_id else f"session:{who.kind}:{who.id}")
    return who


def customer(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.kind != "customer":
        raise ProblemError(403, "Forbidden", "this is a customer's endpoint; operators use /api/v1/admin")
    return who


def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.kind != "operator":
        raise ProblemError(403, "Forbidden", "operators only")
    return who


Customer_ = Annotated[Principal, Depends(customer)]
Operator_ = Annotated[Principal, Depends(operator)]


class SignIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: Literal["customer", "operator"] = "customer"


class Me(BaseModel):
    role: Literal["customer", "operator"]
    name: str
    expires_in: int | None = None


router = APIRouter(prefix="/session", tags=["session"])
ERRORS = responses(401, 429)


@router.post("", response_model=Me, responses=ERRORS)
def create_session(body: SignIn, request: Request, response: Response, st: State) -> Me:
    """Sign in (a customer with its web password, or its MQTT password when it has none; an operator with the
    password `simhost operator add` printed): sets the session cookie."""
    _limit(st, _client(request))
    with st.sessions() as s:
        who = sign_in(s, body.role, body.login, body.password)
        found = _holder(s, who.kind, who.id) if who is not None else None
    if found is None:
        raise unauthorized("wrong login or password")
    who = found[0]
    response.set_cookie(COOKIE, session_cookie(st.secret, who, found[1]), max_age=SESSION_TTL_S, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return Me(role=cast(Literal["customer", "operator"], who.kind), name=who.name, expires_in=SESSION_TTL_S)


@router.get("", response_model=Me, responses=ERRORS)
def whoami(who: Annotated[Principal, Depends(principal)]) -> Me:
    """Who the key or the session belongs to."""
    return Me(role=cast(Literal["customer", "operator"], who.kind), name=who.name)


@router.delete("", status_code=204)
def delete_session(response: Response) -> None:
    """Sign out: the session cookie is cleared."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
