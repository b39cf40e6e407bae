"""What a delivery channel is: it takes one queued delivery and says what came of one try."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from simhost.delivery.models import DELIVERED, FAILED, PENDING


@dataclass(frozen=True)
class Customer:
    """The owner's delivery settings as they were when the try began (a detached copy)."""

    login: str
    enabled: bool
    email: str | None
    http_url: str | None
    http_secret: str | None
    http_secret_previous: str | None
    http_secret_rotated_at: datetime | None
    smpp_system_id: str | None
    forward_msisdn: str | None


@dataclass(frozen=True)
class Item:
    """One delivery to try: its row's identity, the routed message's JSON (as on the owner's topic), its owner."""

    delivery_id: int
    message_id: str
    owner: str
    kind: str  # message | call
    tries: int  # tries made before this one
    payload: str
    customer: Customer


@dataclass(frozen=True)
class Result:
    """What one try came to. `state` is DELIVERED, FAILED (stopped for good until `simhost delivery retry`) or
    PENDING (try again after the backoff); `status` a channel's own code (HTTP status, SMTP reply code)."""

    state: str
    status: int | None
    error: str | None
    latency_ms: int

    @classmethod
    def delivered(cls, status: int | None, latency_ms: int) -> Result:
        return cls(DELIVERED, status, None, latency_ms)

    @classmethod
    def failed(cls, error: str, status: int | None = None, latency_ms: int = 0) -> Result:
        return cls(FAILED, status, error, latency_ms)

    @classmethod
    def retry(cls, error: str, status: int | None = None, latency_ms: int = 0) -> Result:
        return cls(PENDING, status, error, latency_ms)


class Channel(Protocol):
    """A way to deliver: `name` is the deliveries' `channel` it serves. `deliver` makes one try and returns its
    result; it may block up to the service's timeout, and it raises only on a fault of simhost itself."""

    name: str

    def deliver(self, item: Item, now: datetime) -> Result: ...
