"""Registering a customer, for `simhost owner add` and the operators' REST API."""

from __future__ import annotations

from sqlalchemy.orm import Session

from simhost.inputs import CUSTOMER_NAME_MAX, bounded
from simhost.registry import validate
from simhost.registry.models import Customer, bump_version
from simhost.registry.snapshot import find_customer
from simhost.registry.validate import ValidationError
from simhost.security.acl import SERVICE_ROLES
from simhost.security.mqttauth import hash_password, new_password


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
        raise ValidationError(conflict)
    password = new_password()
    customer = Customer(login=key, name=name, verified=verified, enabled=True,
                        mqtt_password_hash=hash_password(password))
    s.add(customer)
    s.flush()
    bump_version(s)
    return customer, password
