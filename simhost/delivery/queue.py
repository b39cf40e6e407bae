"""Queueing deliveries with the router's decision, and the queue's state changes the CLI and the service share."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from simhost.delivery.channels import Result
from simhost.delivery.models import DEAD, DELIVERED, EMAIL, FAILED, HTTP, PENDING, SMPP, SMS, Delivery, DeliveryAttempt
from simhost.registry.models import Customer

log = logging.getLogger("simhost.delivery")

ERROR_MAX = 500
MAX_TRIES = 14  # then a dead letter: with the first retry after 10 s, doubling, about two days


def event_kind(message_kind: str | None) -> str:
    """The webhook event of a routed message: `call` for calls, `message` for everything else."""
    return "call" if message_kind == "call" else "message"


def enqueue(session: Session, rows: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Queue a delivery for every channel the owner has set up (webhook, e-mail, SMPP, SMS to its phone), for
    each routed message in `rows` (rows of `routed_messages` about to be inserted in the same transaction); the
    number queued."""
    routed = [r for r in rows if r.get("status") == "routed" and r.get("owner")]
    if not routed:
        return 0
    owners = {r["owner"] for r in routed}
    settings = session.execute(select(Customer.login, Customer.http_url, Customer.email, Customer.smpp_system_id,
                                      Customer.forward_msisdn).where(Customer.login.in_(owners))).all()
    channels = {c.login: [ch for ch, on in ((HTTP, c.http_url), (EMAIL, c.email), (SMPP, c.smpp_system_id),
                                            (SMS, c.forward_msisdn)) if on]
                for c in settings}
    queued = [{"message_id": r["id"], "owner": r["owner"], "channel": channel, "kind": event_kind(r.get("kind")),
               "state": PENDING, "tries": 0, "next_try_at": now, "last_error": None, "created_at": now,
               "delivered_at": None}
              for r in routed for channel in channels.get(r["owner"], ())]
    if queued:
        session.execute(insert(Delivery), queued)
    return len(queued)


def revive(session: Session, now: datetime, *, ids: Iterable[int] = (), owner: str | None = None) -> int:
    """Make failed and dead deliveries (by id, or all of `owner`'s) pending again, due now, with a fresh count
    of tries; the number revived."""
    query = update(Delivery).where(Delivery.state.in_((FAILED, DEAD)))
    id_list = list(ids)
    if id_list:
        query = query.where(Delivery.id.in_(id_list))
    if owner is not None:
        query = query.where(Delivery.owner == owner)
    done = session.execute(query.values(state=PENDING, tries=0, next_try_at=now))
    return int(getattr(done, "rowcount", 0) or 0)


def record_try(session: Session, delivery_id: int, tries_before: int, outcome: Result, now: datetime, *,
               retry_s: float, max_tries: int, owner: str) -> str:
    """Record one try of a pending delivery and move it on: delivered, stopped (failed), or due again after the
    backoff (`retry_s` doubling), dead after `max_tries`; what became of it (delivered, failed, retry, dead)."""
    tries = tries_before + 1
    error = outcome.error[:ERROR_MAX] if outcome.error else None
    values: dict[str, object] = {"tries": tries, "last_error": error}
    result = outcome.state
    if outcome.state == DELIVERED:
        values.update(state=DELIVERED, delivered_at=now)
    elif outcome.state == FAILED:
        values.update(state=FAILED)
    elif tries >= max_tries:
        result = DEAD
        values.update(state=DEAD)
        log.warning("delivery %d to %s is dead after %d tries: %s", delivery_id, owner, tries, error)
    else:
        result = "retry"
        values.update(next_try_at=now + timedelta(seconds=retry_s * 2 ** (tries - 1)))
    session.execute(insert(DeliveryAttempt).values(delivery_id=delivery_id, at=now, result=result,
                                                   status_code=outcome.status, error=error,
                                                   latency_ms=outcome.latency_ms))
    session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.state == PENDING).values(**values))
    return result
