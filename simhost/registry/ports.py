"""Registering modem ports (a name, a pyserial URL, a driver), for `simhost port` and the operators' REST API."""

from __future__ import annotations

import os
import re

from sqlalchemy.orm import Session

from simhost.config import shown_url
from simhost.inputs import PORT_NAME_MAX, PORT_URL_MAX, ConflictError, InputError, NotFoundError, bounded, shown
from simhost.models import Port

PORT_NAME_RE = re.compile(rf"^[A-Za-z0-9_.-]{{1,{PORT_NAME_MAX}}}$")


def port_name(value: str) -> str:
    """A port name: it becomes an MQTT topic level."""
    if not PORT_NAME_RE.match(bounded(value, PORT_NAME_MAX, "port name")):
        raise InputError(f"port name {shown(value)} is not valid: use 1-{PORT_NAME_MAX} letters, digits, '_', '-' "
                         "or '.' (it becomes an MQTT topic level)")
    return value


def drivers() -> tuple[str, ...]:
    """The modem drivers' names (loaded only when asked: the drivers slow a command's start down)."""
    from simhost_drivers.modems.registry import BACKENDS

    return tuple(sorted(BACKENDS))


def driver(value: str) -> str:
    if value not in drivers():
        raise InputError(f"driver {shown(value)} is not one of {', '.join(drivers())}")
    return value


def duplicate(name: str) -> str:
    return f"port {shown(name)} is already registered (see `simhost port list`)"


def find_port(s: Session, name: str) -> Port:
    row = s.get(Port, name)
    if row is None:
        raise NotFoundError(f"no port named {shown(name)} (see `simhost port list`)")
    return row


def add_port(s: Session, name: str, url: str, driver_name: str | None) -> Port:
    """Register port `name` at `url` (checked) in the caller's transaction; a unique-key race still surfaces as
    IntegrityError at commit, which the caller turns into `duplicate(name)`."""
    name = port_name(name)
    url = bounded(url, PORT_URL_MAX, "port URL")
    if driver_name is not None:
        driver(driver_name)
    if s.get(Port, name) is not None:
        raise ConflictError(duplicate(name))
    row = Port(name=name, url=url, driver=driver_name, enabled=True)
    s.add(row)
    return row


def missing_device(url: str) -> str | None:
    """A warning when `url` is a device path that does not exist (yet), else None."""
    if "://" not in url and not os.path.exists(url):
        return f"{shown_url(url)} does not exist (yet); the gateway will keep trying to open it"
    return None
