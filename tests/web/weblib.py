"""Helpers for the REST API tests: a database with two customers, an operator and their keys, the API served by
a real uvicorn on a free port, and a small HTTP client (http.client) for it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.db import make_engine, make_sessions, upgrade
from simhost.models import Port
from simhost.registry.customers import add_customer
from simhost.registry.models import RoutedMessage, SimSlot
from simhost.security.apikeys import add_operator, create_key
from simhost.web.ratelimit import RateLimiter
from simhost.web.server import WebServer
from tests.registry.test_registry_cli import make_iccid

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACME_NUMBER = "+79000000001"
SHARED_NUMBER = "+79000000009"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> object:
        return json.loads(self.body)

    @property
    def data(self) -> dict[str, object]:
        value = self.json
        assert isinstance(value, dict), value
        return value


@dataclass
class Api:
    """The served API and what the tests act as."""

    server: WebServer
    sessions: sessionmaker[Session]
    keys: dict[str, str] = field(default_factory=dict)  # acme, beta, ops: their API keys
    passwords: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, body: object = None, *, key: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=10)
        try:
            sent = dict(headers or {})
            if key is not None:
                sent["Authorization"] = f"Bearer {self.keys.get(key, key)}"
            payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            if payload is not None:
                sent.setdefault("Content-Type", "application/json")
            conn.request(method, f"/api/v1{path}", body=payload, headers=sent)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str, key: str | None = None) -> Reply:
        return self.call("GET", path, key=key)

    def message(self, mid: str, *, owner: str | None = "acme", at: datetime = T0, text: str = "hello",
                sender: str = "+79161234567", kind: str = "sms", status: str = "routed",
                number: str = ACME_NUMBER) -> None:
        payload = {"id": mid, "kind": kind, "owner": owner, "sender": sender, "text": text, "number": number}
        if status != "routed":
            payload.update(status=status, reason_code="no-match", reason="no rule applies")
        with self.sessions.begin() as s:
            s.add(RoutedMessage(id=mid, kind=kind, status=status, owner=owner if status == "routed" else None,
                                number=number, number_kind="hosted-company", sender=sender,
                                rule="dedicated" if status == "routed" else None,
                                reason_code=None if status == "routed" else "no-match",
                                reason=None if status == "routed" else "no rule applies", text=text, received_at=at,
                                routed_at=at + timedelta(seconds=1), topic="t", payload=json.dumps(payload)))


def problem_of(reply: Reply, status: int) -> dict[str, object]:
    """The problem a reply must be: its status, RFC 9457's media type and members."""
    assert reply.status == status, (reply.status, reply.body[:500])
    assert reply.headers["content-type"].startswith("application/problem+json"), reply.headers
    data = reply.data
    assert data["status"] == status, data
    assert isinstance(data["title"], str), data
    assert isinstance(data["type"], str), data
    return data


@contextmanager
def serve(tmp_path: Path, *, rate: float = 1000.0, burst: int = 1000, body_max: int = 64 * 1024,
          mqtt_url: str | None = None, topic_prefix: str = "simhost") -> Iterator[Api]:
    """A database with customers acme (a hosted-company number) and beta, operator ops, a key each, and the API on
    it at 127.0.0.1 on a free port (reading the ports' statuses from `mqtt_url` when given); stopped (its threads
    ended) afterwards."""
    url = f"sqlite:///{tmp_path}/api.db"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    keys, passwords = {}, {}
    with sessions.begin() as s:
        s.add(Port(name="port01", url="socket://127.0.0.1:1", enabled=True))
        for login in ("acme", "beta"):
            c, passwords[login] = add_customer(s, login, None, True)
            keys[login] = create_key(s, customer_id=c.id)[1]
            if login == "acme":
                s.add(SimSlot(bank=1, slot=1, iccid=make_iccid(1), msisdn=ACME_NUMBER, kind="hosted-company",
                              owner_id=c.id, enabled=True, port="port01"))
        s.add(SimSlot(bank=1, slot=9, iccid=make_iccid(9), msisdn=SHARED_NUMBER, kind="shared", enabled=True,
                      port="port01"))
        op, passwords["ops"] = add_operator(s, "ops")
        keys["ops"] = create_key(s, operator_id=op.id)[1]
    settings = Settings(db_url=url, send_gap_s=0, topic_prefix=topic_prefix,
                        **({"mqtt_url": mqtt_url} if mqtt_url is not None else {}))
    server = WebServer(settings, sessions, "127.0.0.1:0", limiter=RateLimiter(rate, burst), body_max=body_max,
                       port_status=mqtt_url is not None)
    server.start()
    try:
        yield Api(server, sessions, keys, passwords)
    finally:
        server.stop()
        engine.dispose()
