"""The registry read into a routing Directory, and sends recorded into the sent log."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from simhost.gateway.numbers import to_e164
from simhost.inputs import SENT_FROM_MAX, bounded, shown
from simhost.registry import validate
from simhost.registry.models import Customer, SentLog, SimSlot, WhitelistEntry
from simhost.registry.validate import ValidationError
from simhost.router.directory import CustomerEntry, Directory, NumberEntry, SendEntry

# Reply attribution looks back 14 days by default; keep more so a longer configured window still works.
SEND_HISTORY = timedelta(days=30)


def load_directory(session: Session, *, now: datetime | None = None,
                   send_history: timedelta = SEND_HISTORY) -> Directory:
    """Customers, numbers (with their whitelists) and the sends of the last `send_history`."""
    now = validate.as_utc(now) if now is not None else datetime.now(UTC)
    customers = list(session.scalars(select(Customer)))
    logins = {c.id: c.login for c in customers}
    whitelists: dict[int, set[str]] = defaultdict(set)
    for slot_id, key in session.execute(select(WhitelistEntry.slot_id, WhitelistEntry.sender_key)):
        whitelists[slot_id].add(key)
    numbers = [
        NumberEntry(
            msisdn=s.msisdn,
            kind=s.kind,
            owner=logins.get(s.owner_id) if s.owner_id is not None else None,
            enabled=s.enabled,
            iccid=s.iccid,
            whitelist=frozenset(whitelists.get(s.id, ())),
            port=s.port,
        )
        for s in session.scalars(select(SimSlot))
    ]
    sends = [
        SendEntry(to, logins.get(owner_id, ""), validate.as_utc(at))
        for to, owner_id, at in session.execute(
            select(SentLog.to_subscriber, SentLog.owner_id, SentLog.at).where(SentLog.at >= now - send_history)
        )
    ]
    return Directory.build(
        [CustomerEntry(c.login, c.enabled, c.verified) for c in customers], numbers, sends
    )


def find_customer(session: Session, login: str) -> Customer | None:
    """The customer with `login` (any case), or None."""
    try:
        key = validate.login(login)
    except ValidationError:
        return None
    return session.scalar(select(Customer).where(Customer.login == key))


def record_send(session: Session, from_number: str, to: str, owner_login: str, at: datetime, source: str,
                region: str) -> SentLog:
    """Log that `owner_login` sent an SMS from `from_number` (MSISDN or sender name) to subscriber `to`."""
    owner = find_customer(session, owner_login)
    if owner is None:
        raise ValidationError(f"no customer with login {shown(owner_login)} (see `simhost owner list`)")
    subscriber = validate.msisdn(to, region)
    sender = from_number.strip()
    if not sender:
        raise ValidationError("the sending number or sender name is empty")
    if validate.PHONE_CHARS_RE.match(sender):
        sender = to_e164(sender, region) or sender  # a short code stays as it is
    row = SentLog(from_number=bounded(sender, SENT_FROM_MAX, "sender"), to_subscriber=subscriber,
                  owner_id=owner.id, at=validate.as_utc(at), source=validate.source(source))
    session.add(row)
    session.flush()
    return row
