"""A real webhook receiver (ThreadingHTTPServer on 127.0.0.1) and a registry with two customers, for delivery tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.db import make_engine, make_sessions
from simhost.delivery.models import Delivery, DeliveryAttempt
from simhost.delivery.queue import enqueue
from simhost.delivery.service import DeliveryService
from simhost.registry.models import RoutedMessage
from tests.router.routerlib import cli, registry

WAIT_S = 15.0
SECRET_RE_PREFIX = "webhook signing secret (shown only now): "


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None


@dataclass
class Receiver:
    """Records every POST; answers each path from its script (a status, or `hold:<s>` to keep the request
    unanswered for up to that long or until `release`), then 200."""

    server: ThreadingHTTPServer
    scripts: dict[str, list[str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout_s)

    def keys(self, path: str | None = None) -> list[str]:
        with self.cond:
            return [r.headers["Idempotency-Key"] for r in self.requests if path is None or r.path == path]

    def on(self, path: str) -> list[Request]:
        with self.cond:
            return [r for r in self.requests if r.path == path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            req = Request(self.path, dict(self.headers.items()), body)
            with rec.cond:
                script = rec.scripts.get(self.path, [])
                action = script.pop(0) if script else "200"
                rec.requests.append(req)
                rec.cond.notify_all()
            if action.startswith("hold:"):
                rec.release.wait(float(action[5:]))
                action = "200"
            req.answered = int(action)
            try:
                self.send_response(req.answered)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up waiting
            with rec.cond:
                rec.cond.notify_all()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, name="test-webhook-receiver")
    thread.start()
    try:
        yield holder[0]
    finally:
        holder[0].release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def verify(header: str, body: bytes, secret: str, *, tolerance_s: int = 300) -> bool:
    """What a customer's receiver does: any v1 signature matching `<t>.<body>` with its secret, t recent."""
    fields = [part.split("=", 1) for part in header.split(",")]
    t = next(v for k, v in fields if k == "t")
    if abs(datetime.now(UTC).timestamp() - int(t)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in fields)


@dataclass
class Site:
    db_url: str
    sessions: sessionmaker[Session]
    settings: Settings
    secrets: dict[str, str]

    def forward(self, login: str, url: str) -> str:
        out = cli(self.db_url, "owner", "forward", login, "--http-url", url)
        for line in out.splitlines():
            if line.startswith(SECRET_RE_PREFIX):
                self.secrets[login] = line[len(SECRET_RE_PREFIX):]
        return out

    def route(self, owner: str, *, kind: str = "sms", status: str = "routed", **fields: Any) -> str:
        """A routed message recorded as the router records it: the decision and its deliveries in one
        transaction; `fields` replace the payload's (sender, number, text)."""
        mid = f"test-{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        payload = {"schema": 1, "id": mid, "kind": kind, "owner": owner, "number": "+79000000002",
                   "sender": "+79161111111", "sender_type": "international",
                   "text": "[CALL]" if kind == "call" else "привет", "received_at": now.isoformat(), **fields}
        row = {"id": mid, "kind": kind, "status": status, "owner": owner, "received_at": now, "routed_at": now,
               "topic": f"simhost/v1/owners/{owner}/messages", "payload": json.dumps(payload, ensure_ascii=False)}
        with self.sessions.begin() as s:
            s.execute(insert(RoutedMessage), [row])
            enqueue(s, [row], now)
        return mid

    def delivery(self, message_id: str) -> Delivery:
        with self.sessions() as s:
            return s.scalars(select(Delivery).where(Delivery.message_id == message_id)).one()

    def attempts(self, message_id: str) -> list[DeliveryAttempt]:
        return attempts_of(self.sessions, message_id)

    def wait_state(self, service: DeliveryService, message_ids: list[str], state: str,
                   timeout_s: float = WAIT_S) -> bool:
        """Wait until every message's delivery is in `state` (checked after each try the service records)."""
        with service.changed:
            return service.changed.wait_for(lambda: all(self.delivery(m).state == state for m in message_ids),
                                            timeout_s)


def attempts_of(sessions: sessionmaker[Session], message_id: str) -> list[DeliveryAttempt]:
    """Every try of `message_id`'s deliveries, in order."""
    with sessions() as s:
        return list(s.scalars(select(DeliveryAttempt).join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                              .where(Delivery.message_id == message_id).order_by(DeliveryAttempt.id)))


@contextmanager
def site(tmp_path: Path) -> Iterator[Site]:
    """Customers acme (with a virtual number) and beta, no forwarding yet."""
    db_url = f"sqlite:///{tmp_path / 'simhost.db'}"
    registry(db_url)
    cli(db_url, "owner", "add", "beta", "--verified")
    engine = make_engine(db_url)
    try:
        yield Site(db_url, make_sessions(engine), Settings(db_url=db_url, region="RU"), {})
    finally:
        engine.dispose()


@contextmanager
def running(service: DeliveryService) -> Iterator[DeliveryService]:
    service.start()
    try:
        yield service
    finally:
        service.stop()
