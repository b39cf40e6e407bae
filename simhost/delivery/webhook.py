"""Signed HTTP webhooks: the signature header, the address check, one POST with its outcome, and the channel."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from simhost.delivery.channels import Item, Result
from simhost.delivery.models import HTTP

log = logging.getLogger("simhost.delivery")

SECRET_GRACE = timedelta(hours=24)  # how long the previous secret still signs after a rotation
RESPONSE_READ_MAX = 64 * 1024  # of a response body, read and dropped (the status line is what counts)
USER_AGENT = "simhost-webhook/1"


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, hex, prefixed so it is recognisable in a config file."""
    return "whsec_" + secrets.token_hex(32)


def sign(secret: str, t: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<t>.<body>` with `secret`."""
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(t: int, body: bytes, secret: str, previous: str | None = None) -> str:
    """`t=<t>,v1=<sig>` and, while a rotated-out secret is still valid, `,v1=<sig with the previous secret>`."""
    parts = [f"t={t}", f"v1={sign(secret, t, body)}"]
    if previous:
        parts.append(f"v1={sign(previous, t, body)}")
    return ",".join(parts)


def previous_secret(previous: str | None, rotated_at: datetime | None, now: datetime) -> str | None:
    """The previous secret while it is still valid (a day after the rotation), else None."""
    if previous is None or rotated_at is None:
        return None
    if rotated_at.tzinfo is None:
        rotated_at = rotated_at.replace(tzinfo=now.tzinfo)
    return previous if now - rotated_at < SECRET_GRACE else None


class RefusedError(Exception):
    """The URL may not be delivered to at all (its address is private, its scheme unknown): no retry helps."""


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`; RefusedError when any address it resolves to is not a public one.

    The connection then goes to this very address, so a name that resolves differently a moment later
    (DNS rebinding) cannot slip past the check.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        for a in addresses:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
            if not ip.is_global or ip.is_multicast:
                raise RefusedError(f"{host} resolves to {a}, a loopback, private, link-local or reserved address "
                              "(SIMHOST_DELIVERY_ALLOW_PRIVATE=1 allows them)")
    return addresses[0]


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: an HTTP status, or an error before any status arrived."""

    status: int | None
    error: str | None
    latency_ms: int


def post(url: str, body: bytes, headers: dict[str, str], *, timeout_s: float, allow_private: bool) -> Outcome:
    """POST `body` to `url` once (no redirects followed). RefusedError when the URL may not be used at all."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedError(f"{url[:80]!r} is not an http:// or https:// URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    started = time.monotonic()
    try:
        address = resolve(parts.hostname, port, allow_private=allow_private)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout_s)
        else:
            conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout_s)
        conn._create_connection = _pinned(address)  # type: ignore[attr-defined]
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", path, body=body, headers={"User-Agent": USER_AGENT, **headers})
            response = conn.getresponse()
            response.read(RESPONSE_READ_MAX)
            status = response.status
            location = response.getheader("Location")
        finally:
            conn.close()
    except RefusedError:
        raise
    except TimeoutError:
        return Outcome(None, f"no answer within {timeout_s:g} s", _ms(started))
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}", _ms(started))
    error = None
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed" + (f" (to {location[:200]})" if location else "")
    elif not 200 <= status < 300:
        error = f"HTTP {status}"
    return Outcome(status, error, _ms(started))


def _pinned(address: str) -> Any:
    def connect(where: tuple[str, int], timeout: float, source: Any = None) -> socket.socket:
        return socket.create_connection((address, where[1]), timeout, source)

    return connect


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class WebhookChannel:
    """POSTs the routed message JSON, signed with the customer's secret (and the previous one for a day after
    a rotation); 2xx is delivered, 410 stops the customer's webhook deliveries, anything else is retried."""

    name = HTTP

    def __init__(self, *, timeout_s: float, allow_private: bool) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private

    def deliver(self, item: Item, now: datetime) -> Result:
        c = item.customer
        if not c.http_url:
            return Result.failed(f"customer {item.owner} has no HTTP URL set any more")
        body = item.payload.encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Simhost-Event": item.kind,
                   "Idempotency-Key": item.message_id}
        if c.http_secret:
            previous = previous_secret(c.http_secret_previous, c.http_secret_rotated_at, now)
            headers["X-Simhost-Signature"] = signature_header(int(now.timestamp()), body, c.http_secret, previous)
        try:
            outcome = post(c.http_url, body, headers, timeout_s=self.timeout_s, allow_private=self.allow_private)
        except RefusedError as exc:
            log.warning("delivery %d to %s refused: %s", item.delivery_id, item.owner, exc)
            return Result.failed(f"refused: {exc}")
        if outcome.status is not None and 200 <= outcome.status < 300:
            return Result.delivered(outcome.status, outcome.latency_ms)
        if outcome.status == 410:
            log.warning("delivery %d: %s answered 410 Gone: customer %s's webhook deliveries stop here "
                        "(`simhost delivery retry` resumes them)", item.delivery_id, c.http_url, item.owner)
            return Result.failed("HTTP 410 Gone: the endpoint asked for no more deliveries", 410, outcome.latency_ms)
        return Result.retry(outcome.error or "failed", outcome.status, outcome.latency_ms)
