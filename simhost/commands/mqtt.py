"""`simhost mqtt`: broker access control from the customer registry: Mosquitto password and ACL files (`acl`), or
the dynamic-security plugin kept in step over MQTT (`sync`)."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from simhost.commands.common import Context
from simhost.config import DEFAULT_DYNSEC_ADMIN, ConfigError, read_password_file
from simhost.security.acl import (
    DEFAULT_SERVICES,
    ROUTER,
    SERVICE_ROLES,
    AclError,
    CustomerAccount,
    ServiceCredentials,
    write_acl_files,
)
from simhost.security.dynsec import DynsecError, Plan, desired_state, plan_sync
from simhost.security.dynsec_api import DynsecLink, failures

CUSTOMER_COLUMNS = ("login", "enabled", "mqtt_password_hash")
DEFAULT_BROKER_USER = "mosquitto"
DEFAULT_SERVICES_DIR = Path("/etc/mosquitto/simhost")
ADMIN_USER_ENV = "SIMHOST_DYNSEC_ADMIN"
ADMIN_PASSWORD_FILE_ENV = "SIMHOST_DYNSEC_ADMIN_PASSWORD_FILE"


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


@contextmanager
def _one_line_errors(writing: Path | None = None) -> Iterator[None]:
    """What goes wrong reading the registry, writing into `writing` or talking to the broker, as one-line errors."""
    try:
        yield
    except (AclError, ConfigError, CommandError, DynsecError) as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise click.ClickException(f"database error: {str(reason).splitlines()[0]}") from None
    except OSError as exc:
        where = f"write into {writing}" if writing is not None else "read a file"
        raise click.ClickException(f"cannot {where}: {exc.strerror or exc}") from None


def _admin_link(obj: Context, admin_user: str, password_file: str | None) -> DynsecLink:
    """A link to the broker of `--mqtt` (its host, port and TLS) as the plugin's admin."""
    if not password_file:
        raise click.ClickException(f"the dynamic-security admin's password is needed: --admin-password-file FILE "
                                   f"(or {ADMIN_PASSWORD_FILE_ENV})")
    password, warning = read_password_file(password_file)
    if warning:
        click.echo(warning, err=True)
    return DynsecLink(obj.settings.mqtt, admin_user, password)


def _apply(link: DynsecLink, plan: Plan) -> None:
    failed = failures(plan.commands, link.run(plan.commands))
    if failed:
        raise DynsecError(f"the dynamic-security plugin refused {len(failed)} of {len(plan.commands)} command(s): "
                          + "; ".join(failed))


def push_customer(obj: Context, login: str, password: str | None = None) -> str | None:
    """With SIMHOST_MQTT_DYNSEC=1, bring customer `login`'s client and role on the broker in step at once, with
    `password` (just made; the registry keeps only its hash, which the plugin cannot take) if given. A warning
    line when that failed (the registry change stands), else None."""
    if not obj.settings.mqtt_dynsec:
        return None
    try:
        with _one_line_errors():
            customers = [c for c in read_customers(obj.sessions()) if c.login == login]
            desired = desired_state(obj.settings.topic_prefix, customers,
                                    new_passwords={login: password} if password else None)
            with _admin_link(obj, obj.settings.dynsec_admin, obj.settings.dynsec_admin_password_file) as link:
                _apply(link, plan_sync(link.read_state(), desired, only=login))
    except click.ClickException as exc:
        again = f"; then `simhost owner password {login}` again for the broker to take it" if password else ""
        return (f"warning: the broker's dynamic-security plugin was not updated ({exc.format_message()}): run "
                f"`simhost mqtt sync`{again}")
    return None


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
    with _one_line_errors(out_dir):
        customers = read_customers(obj.sessions())
        files = write_acl_files(out_dir, obj.settings.topic_prefix, customers, broker_user=broker_user or None)
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


@mqtt.command("sync")
@click.option("--admin-user", default=None, metavar="USER",
              help=f"The plugin's admin, as `mosquitto_ctrl dynsec init` made it [env {ADMIN_USER_ENV}, "
                   f"mqtt.dynsec_admin in the config file; default {DEFAULT_DYNSEC_ADMIN}].")
@click.option("--admin-password-file", default=None, metavar="FILE",
              help=f"A file (mode 0600) holding the admin's password [env {ADMIN_PASSWORD_FILE_ENV}, "
                   "mqtt.dynsec_admin_password_file in the config file].")
@click.option("--services-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_SERVICES_DIR,
              show_default=True, metavar="DIR",
              help="Where services.json keeps the service accounts' passwords and the routers' group (made there "
                   "if missing, as `simhost mqtt acl` does).")
@click.option("--dry-run", is_flag=True, help="Only list the changes; change nothing (nor write services.json).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.pass_obj
def sync(obj: Context, admin_user: str | None, admin_password_file: str | None, services_dir: Path, dry_run: bool,
         as_json: bool) -> None:
    """Bring Mosquitto's dynamic-security plugin in step with the registry, while the broker runs.

    \b
    Connects to the broker of --mqtt as the plugin's admin, reads its clients, roles and default
    access, and changes only what differs:
      role simhost-customer-LOGIN   read and subscribe <prefix>/v1/owners/LOGIN/#, publish
                                    .../owners/LOGIN/send and .../sent; nothing else, no $share
      client LOGIN                  every customer, with that role; disabled when the customer is
                                    (the broker drops its connection); deleted with the customer
      role simhost-SERVICE, client  gateway, router, operator, reporter, sender: the rights of
                                    `simhost mqtt acl`; the router subscribes only through
                                    $share/GROUP/ with GROUP from services.json
      default access                deny publishing, receiving and subscribing unless granted
    Clients the plugin holds that simhost did not make (the admin) are left alone.

    \b
    Passwords: the registry keeps PBKDF2 hashes; the plugin's API takes only plain passwords. A
    customer's password reaches the broker when `simhost owner add` or `simhost owner password`
    makes it, run with SIMHOST_MQTT_DYNSEC=1 (and the admin's user and password file in the
    environment above). sync finds a broker password that is no longer the registry's and replaces
    it by a random one (that customer cannot log in until its password is set again), and lists
    the customers with no password on the broker.
    """
    with _one_line_errors(services_dir):
        customers = read_customers(obj.sessions())
        if not dry_run:
            services_dir.mkdir(parents=True, exist_ok=True)
        credentials = ServiceCredentials.load_or_create(services_dir, DEFAULT_SERVICES.values(), save=not dry_run)
        desired = desired_state(obj.settings.topic_prefix, customers, router_group=credentials.router_group,
                                service_passwords=credentials.passwords)
        with _admin_link(obj, admin_user or obj.settings.dynsec_admin,
                         admin_password_file or obj.settings.dynsec_admin_password_file) as link:
            plan = plan_sync(link.read_state(), desired)
            if not dry_run:
                _apply(link, plan)
    if as_json:
        click.echo(json.dumps({
            "broker": str(obj.settings.mqtt), "dry_run": dry_run, "applied": 0 if dry_run else len(plan.changes),
            "changes": [c._asdict() for c in plan.changes], "notices": plan.notices,
            "router_group": credentials.router_group,
        }, indent=2))
        return
    for change in plan.changes:
        click.echo(f"{'would ' if dry_run else ''}{change}")
    for notice in plan.notices:
        click.echo(f"note: {notice}")
    if not plan.changes:
        click.echo("the dynamic-security plugin is in step with the registry: nothing to change")
    elif dry_run:
        click.echo(f"dry run: {len(plan.changes)} change(s) listed, none made")
    else:
        click.echo(f"{len(plan.changes)} change(s) made")
