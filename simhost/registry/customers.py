"""Registering and finding customers and giving them passwords, for `simhost owner` and the operators' REST API."""

from __future__ import annotations

from sqlalchemy.orm import Session

from simhost.inputs import CUSTOMER_NAME_MAX, ConflictError, NotFoundError, bounded, shown
from simhost.registry import validate
from simhost.registry.models import Customer, bump_version
from simhost.registry.snapshot import find_customer
from simhost.registry.validate import ValidationError
from simhost.security.acl import SERVICE_ROLES
from simhost.security.mqttauth import hash_password
from simhost.security.mqttauth import new_password as new_password_text


def find(s: Session, login: str) -> Customer:
    """The customer `login` (any case); NotFoundError naming it when there is none."""
    row = find_customer(s, login)
    if row is None:
        raise NotFoundError(f"no customer with login {shown(login)} (see `simhost owner list`)")
    return row


def duplicate(s: Session, login: str) -> str | None:
    """The sentence saying `login` is taken, or None."""
    if find_customer(s, login) is None:
        return None
    return f"customer {login!r} is already registered (see `simhost owner show {login}`)"


def add_customer(s: Session, login: str, name: str | None, verified: bool) -> tuple[Customer, str]:
    """Register customer `login` (checked, lowercased) in the caller's transaction; returns it and its new MQTT
    password, which only this shows."""
    key = validate.login(login)
    if name is not None:
        name = bounded(name, CUSTOMER_NAME_MAX, "customer name")
    if key in SERVICE_ROLES:
        raise ValidationError(f"login {key!r} is reserved: it is simhost's {key} service account on the broker")
    conflict = duplicate(s, key)
    if conflict:
        raise ConflictError(conflict)
    password = new_password_text()
    customer = Customer(login=key, name=name, verified=verified, enabled=True,
                        mqtt_password_hash=hash_password(password))
    s.add(customer)
    s.flush()
    bump_version(s)
    return customer, password


def new_password(s: Session, c: Customer, *, web: bool = False) -> str:
    """A new MQTT password for `c` (its web sign-in too while it has no web password of its own), or with `web` a
    web password of its own; returned to be shown once. Only an MQTT password changes the registry's version."""
    password = new_password_text()
    if web:
        c.web_password_hash = hash_password(password)
    else:
        c.mqtt_password_hash = hash_password(password)
        bump_version(s)
    return password
