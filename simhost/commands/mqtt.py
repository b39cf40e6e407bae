"""`simhost mqtt`: broker access control (Mosquitto password and ACL files) written from the customer registry."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path
from typing import Any

import click
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from simhost.commands.common import Context
from simhost.config import ConfigError
from simhost.security.acl import ROUTER, SERVICE_ROLES, AclError, CustomerAccount, write_acl_files

CUSTOMER_COLUMNS = ("login", "enabled", "mqtt_password_hash")
DEFAULT_BROKER_USER = "mosquitto"


class RegistryNotReady(click.ClickException):
    """The database has no customers table (or an older one) to read."""


def _default_broker_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(DEFAULT_BROKER_USER)
    except KeyError:
        return None
    return DEFAULT_BROKER_USER


def read_customers(sessions: Any) -> list[CustomerAccount]:
    """Every customer's (login, MQTT password hash, enabled) from the registry's `customers` table."""
    with sessions() as s:
        schema = inspect(s.connection())
        columns = {c["name"] for c in schema.get_columns("customers")} if schema.has_table("customers") else set()
        missing = [c for c in CUSTOMER_COLUMNS if c not in columns]
        if missing:
            what = "no customers table" if not columns else f"no customers.{', customers.'.join(missing)}"
            raise RegistryNotReady(f"the database has {what}: run `simhost db upgrade` first")
        rows = s.execute(text("SELECT login, mqtt_password_hash, enabled FROM customers ORDER BY login"))
        return [CustomerAccount(str(r[0]), r[1] or None, bool(r[2])) for r in rows]


@click.group()
def mqtt() -> None:
    """MQTT broker access control for customers and simhost's own services."""


@mqtt.command("acl")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write passwd, acl, services.json and mosquitto.conf.snippet into.")
@click.option("--broker-user", default=None, metavar="USER",
              help="Give passwd and acl to this system user, which Mosquitto runs as [default: mosquitto "
                   "when run as root and that user exists; '' leaves them yours].")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_obj
def acl(obj: Context, out_dir: Path, broker_user: str | None, as_json: bool) -> None:
    """Write Mosquitto password and ACL files for every enabled customer with an MQTT password.

    \b
    Files written into DIR (all but the snippet mode 0600):
      passwd                  Mosquitto password_file: customers and the service accounts
      acl                     Mosquitto acl_file: who may read and write which topics
      services.json           passwords of the gateway, router, operator and reporter accounts
                              and the routers' secret shared-subscription group; made once,
                              then reused (accounts added in newer versions are filled in)
      mosquitto.conf.snippet  allow_anonymous false, password_file DIR/passwd, acl_file DIR/acl

    \b
    A customer LOGIN may read only <prefix>/v1/owners/LOGIN/# and publish only to
    <prefix>/v1/send and to <prefix>/v1/owners/LOGIN/sent (its own sends, for reply attribution).
    `gateway` publishes inbound messages and port and gateway statuses; `router` reads inbound
    messages, sends and gateway statuses and publishes owner messages, unrouted messages and port
    statuses; `operator` reads everything under <prefix>/; `reporter` (a system that reports sends
    made for any customer) publishes only to <prefix>/v1/sent.
    Customers that are disabled or have no MQTT password are left out and cannot connect.

    \b
    Point Mosquitto at the files by copying the snippet's lines into mosquitto.conf (or the
    snippet into /etc/mosquitto/conf.d/simhost.conf), then reload it after every run of this
    command: `systemctl reload mosquitto` (or `kill -HUP` its pid). Start the services with the
    accounts from services.json, the password in a file of mode 0600 (never on the command line,
    which every local user can read), e.g. `simhost --mqtt mqtt://router@HOST --mqtt-password-file
    /etc/simhost/router.password run --only router --router-group GROUP`.
    """
    if broker_user is None:
        broker_user = _default_broker_user()
    try:
        customers = read_customers(obj.sessions())
        files = write_acl_files(out_dir, obj.settings.topic_prefix, customers, broker_user=broker_user or None)
    except (AclError, ConfigError, CommandError) as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise click.ClickException(f"database error: {str(reason).splitlines()[0]}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write into {out_dir}: {exc.strerror or exc}") from None
    group = files.credentials.router_group
    if as_json:
        click.echo(json.dumps({
            "dir": str(out_dir.resolve()),
            "files": {k: str(getattr(files, k)) for k in ("passwd", "acl", "services", "snippet")},
            "customers": list(files.customers),
            "left_out": list(files.left_out),
            "services": list(SERVICE_ROLES),
            "router_group": group,
            "broker_user": broker_user or None,
        }, indent=2))
        return
    click.echo(f"wrote {files.passwd}, {files.acl}, {files.services} and {files.snippet}")
    click.echo(f"customers allowed: {len(files.customers)}"
               + (f" ({', '.join(files.customers)})" if files.customers else ""))
    if files.left_out:
        click.echo(f"left out (disabled or no MQTT password): {', '.join(files.left_out)}")
    click.echo(f"service accounts {', '.join(SERVICE_ROLES)}: passwords in {files.services}")
    click.echo(f"run every {ROUTER} with --router-group {group}")
    click.echo(f"include {files.snippet} in mosquitto.conf, then reload mosquitto")
