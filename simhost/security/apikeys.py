"""API keys (`sk_<key_id>_<secret>`, shown once, kept as the secret's SHA-256) and operator accounts."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from simhost.inputs import shown
from simhost.registry.models import Customer
from simhost.registry.validate import ValidationError
from simhost.security.models import ApiKey, Operator
from simhost.security.mqttauth import check_password, hash_password, new_password

KEY_RE = re.compile(r"^sk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{20,64})$")
OPERATOR_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
# last_used_at is written at most this often per key: a key used 20 times a second needs no 20 writes
LAST_USED_RESOLUTION = timedelta(minutes=1)
# a password check of an unknown name still costs one hash, so timing does not tell which names exist
_DUMMY_HASH = hash_password(new_password())


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a customer (`login`) or an operator (`name`), and by which key (if any)."""

    kind: str  # customer | operator
    id: int
    name: str  # the customer's login or the operator's name
    key_id: str | None = None


def _digest(secret: str) -> str:
    # a key's secret is 32 random bytes: a plain SHA-256 cannot be reversed, no slow hash is needed
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(s: Session, *, customer_id: int | None = None, operator_id: int | None = None) -> tuple[ApiKey, str]:
    """A new key for the customer or the operator; returns the row and the whole key, which only this shows."""
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    row = ApiKey(key_id=key_id, secret_hash=_digest(secret), customer_id=customer_id, operator_id=operator_id,
                 created_at=datetime.now(UTC))
    s.add(row)
    s.flush()
    return row, f"sk_{key_id}_{secret}"


def revoke_key(s: Session, key_id: str, *, customer_id: int | None = None, operator_id: int | None = None) -> ApiKey:
    """Revoke the holder's key `key_id` (revoking twice is no error); a ValidationError if it has none by that id."""
    query = select(ApiKey).where(ApiKey.key_id == key_id.strip())
    query = query.where(ApiKey.customer_id == customer_id if customer_id is not None
                        else ApiKey.operator_id == operator_id)
    row = s.scalar(query)
    if row is None:
        raise ValidationError(f"no API key {shown(key_id)} of this holder (see --list)")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    return row


def list_keys(s: Session, *, customer_id: int | None = None, operator_id: int | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    query = query.where(ApiKey.customer_id == customer_id if customer_id is not None
                        else ApiKey.operator_id == operator_id)
    return list(s.scalars(query))


def authenticate_key(s: Session, token: str, now: datetime | None = None) -> Principal | None:
    """The principal of an API key that exists and is not revoked (its holder enabled), else None."""
    m = KEY_RE.match(token)
    if m is None:
        return None
    row = s.scalar(select(ApiKey).where(ApiKey.key_id == m.group(1)))
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(m.group(2))) or row.revoked_at is not None:
        return None
    now = now or datetime.now(UTC)
    if row.last_used_at is None or _utc(row.last_used_at) < now - LAST_USED_RESOLUTION:
        s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    if row.customer_id is not None:
        login = s.scalar(select(Customer.login).where(Customer.id == row.customer_id, Customer.enabled.is_(True)))
        return Principal("customer", row.customer_id, login, row.key_id) if login is not None else None
    operator = s.get(Operator, row.operator_id)
    return Principal("operator", operator.id, operator.name, row.key_id) if operator is not None else None


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def operator_name(value: str) -> str:
    name = value.strip()
    if not OPERATOR_NAME_RE.match(name):
        raise ValidationError(f"operator name {shown(value)} is not valid: use 2-64 letters, digits, '.', '_', "
                              "'@' or '-'")
    return name


def find_operator(s: Session, name: str) -> Operator:
    row = s.scalar(select(Operator).where(Operator.name == name.strip()))
    if row is None:
        raise ValidationError(f"no operator named {shown(name)} (add one with `simhost operator add NAME`)")
    return row


def add_operator(s: Session, name: str) -> tuple[Operator, str]:
    """A new operator and its password, which only this shows."""
    name = operator_name(name)
    if s.scalar(select(Operator.id).where(Operator.name == name)) is not None:
        raise ValidationError(f"operator {name!r} already exists")
    password = new_password()
    row = Operator(name=name, password_hash=hash_password(password), created_at=datetime.now(UTC))
    s.add(row)
    s.flush()
    return row, password


def sign_in(s: Session, kind: str, name: str, password: str) -> Principal | None:
    """The principal whose name and password these are: an operator's, or a customer's web password (its MQTT
    password when it has no web password of its own); None otherwise, or for a disabled customer."""
    if kind == "operator":
        operator = s.scalar(select(Operator).where(Operator.name == name.strip()))
        hashed = operator.password_hash if operator is not None else None
        if check_password(password, hashed or _DUMMY_HASH) and operator is not None:
            return Principal("operator", operator.id, operator.name)
        return None
    customer = s.scalar(select(Customer).where(Customer.login == name.strip().lower()))
    hashed = (customer.web_password_hash or customer.mqtt_password_hash) if customer is not None else None
    if check_password(password, hashed or _DUMMY_HASH) and customer is not None and customer.enabled:
        return Principal("customer", customer.id, customer.login)
    return None
