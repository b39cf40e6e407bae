"""The `simhost` command line (click): database, ports, running the services, PDU inspection."""

from __future__ import annotations

import importlib
import json
import logging
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any, ClassVar, TypeVar

import click
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError

from simhost.config import ConfigError, Settings
from simhost.db import make_engine, make_sessions, upgrade
from simhost.models import Port

F = TypeVar("F", bound=Callable[..., Any])
PORT_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TRACE = 5


class Context:
    """What every command gets: the resolved settings and lazily made database sessions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._sessions: Any = None

    def engine(self) -> Engine:
        """The database engine, the schema migrated to the newest revision first."""
        if self._engine is None:
            upgrade(self.settings.db_url)
            self._engine = make_engine(self.settings.db_url)
        return self._engine

    def sessions(self) -> Any:
        if self._sessions is None:
            self._sessions = make_sessions(self.engine())
        return self._sessions


def friendly_errors(func: F) -> F:
    """Turn library errors into one-line click errors (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError as exc:
            raise click.ClickException(f"database error: {exc.orig}") from None

    return wrapper  # type: ignore[return-value]


def _processes(value: str) -> int | None:
    """`--gateway-processes`: None for auto, else a positive number."""
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"{value!r}: give a number of processes (1 or more) or 'auto'")
    return int(value)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


class LazyGroup(click.Group):
    """The top-level group: commands kept in other modules are imported only when used or listed
    (`simhost run` starts without loading the registry and MQTT-account commands)."""

    LAZY: ClassVar[dict[str, str]] = {
        "mqtt": "simhost.commands.mqtt:mqtt",
        "pdu": "simhost.commands.pdu:pdu",
        "udev": "simhost.commands.udev:udev",
        **{name: f"simhost.commands.registry:{name}"
           for name in ("owner", "slot", "whitelist", "sent", "inbox", "status")},
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, attr = self.LAZY[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="simhost", prog_name="simhost", message="%(prog)s %(version)s")
@click.option("--db", "db_url", envvar="SIMHOST_DB", default=None, metavar="URL",
              help="Database URL [env SIMHOST_DB; default sqlite:///simhost.db in the current "
                   "directory; PostgreSQL: postgresql://user@host/db].")
@click.option("--mqtt", "mqtt_url", envvar="SIMHOST_MQTT", default=None, metavar="URL",
              help="MQTT broker URL [env SIMHOST_MQTT; default mqtt://127.0.0.1:1883; "
                   "mqtt://user:password@host:port].")
@click.option("--topic-prefix", envvar="SIMHOST_TOPIC_PREFIX", default=None,
              help="MQTT topic prefix [default simhost].")
@click.option("--region", envvar="SIMHOST_REGION", default=None,
              help="Default region for phone numbers without a country code [default RU].")
@click.option("-v", "--verbose", count=True, help="More logging (-vv: AT wire trace).")
@click.pass_context
def main(ctx: click.Context, db_url: str | None, mqtt_url: str | None, topic_prefix: str | None,
         region: str | None, verbose: int) -> None:
    """simhost: receive every SMS and call of a GSM SIM bank and route it to its owner over MQTT."""
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}.get(verbose, TRACE)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # migrations run on every start; their progress lines only matter when debugging
    logging.getLogger("alembic").setLevel(logging.INFO if verbose >= 2 else logging.WARNING)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    ctx.obj = Context(replace(settings, db_url=db_url or settings.db_url, mqtt_url=mqtt_url or settings.mqtt_url,
                              topic_prefix=topic_prefix or settings.topic_prefix, region=region or settings.region))


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.pass_obj
@friendly_errors
def db_upgrade(obj: Context) -> None:
    """Create the database or migrate it to the newest schema (alembic head)."""
    upgrade(obj.settings.db_url)
    click.echo(f"database {obj.settings.db_url} is at the newest schema")


@main.group()
def port() -> None:
    """Modem ports: a name and a pyserial URL (use a stable /dev/serial/by-path or udev name)."""


def _port_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not PORT_NAME_RE.match(value):
        raise click.BadParameter("use 1-64 letters, digits, '_', '-' or '.' (it becomes an MQTT topic level)")
    return value


@port.command("add")
@click.argument("name", callback=_port_name)
@click.option("--url", required=True, help="pyserial URL: /dev/serial/by-path/..., socket://host:port, spy://...")
@click.option("--driver", type=click.Choice(["generic", "simcom", "quectel", "huawei"]), default=None,
              help="Modem driver; by default it is chosen by probing AT+CGMI/AT+CGMM.")
@click.pass_obj
@friendly_errors
def port_add(obj: Context, name: str, url: str, driver: str | None) -> None:
    """Register a modem port NAME reachable at --url."""
    sessions = obj.sessions()
    try:
        with sessions.begin() as s:
            s.add(Port(name=name, url=url, driver=driver, enabled=True))
    except IntegrityError:
        raise click.ClickException(f"port {name!r} is already registered (see `simhost port list`)") from None
    click.echo(f"port {name} added: {url}" + (f" (driver {driver})" if driver else ""))


@port.command("remove")
@click.argument("name")
@click.pass_obj
@friendly_errors
def port_remove(obj: Context, name: str) -> None:
    """Unregister port NAME."""
    with obj.sessions().begin() as s:
        row = s.get(Port, name)
        if row is None:
            raise click.ClickException(f"no port named {name!r} (see `simhost port list`)")
        s.delete(row)
    click.echo(f"port {name} removed")


@port.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly_errors
def port_list(obj: Context, as_json: bool) -> None:
    """List registered ports."""
    with obj.sessions()() as s:
        rows = [{"name": p.name, "url": p.url, "driver": p.driver, "enabled": p.enabled}
                for p in s.scalars(select(Port).order_by(Port.name))]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no ports registered (add one with `simhost port add NAME --url URL`)")
    for r in rows:
        click.echo(f"{r['name']:<16} {r['url']:<48} {r['driver'] or 'auto':<8} "
                   f"{'enabled' if r['enabled'] else 'disabled'}")


@main.command()
@click.option("--only", type=click.Choice(["gateway", "router"]), default=None,
              help="Run only this service (default: gateway and router together).")
@click.option("--router-group", envvar="SIMHOST_ROUTER_GROUP", default="routers", show_default=True,
              help="Shared-subscription group: routers in one group split the inbound messages between them. "
                   "Behind `simhost mqtt acl`, use the secret group it wrote to services.json.")
@click.option("--router-id", default=None,
              help="This router's MQTT session name (default: the host name). Unacknowledged messages wait "
                   "for the same id after a restart; give each router on one host its own.")
@click.option("--gateway-processes", envvar="SIMHOST_GATEWAY_PROCESSES", default="auto", show_default=True,
              metavar="N|auto",
              callback=lambda _c, _p, v: _processes(v),
              help="Split the ports over N gateway processes (one process uses at most one core, about "
                   "1,500 msg/s); auto: one per 32 ports, no more than the cores.")
@click.option("--port-rescan", default=10.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help="How often the gateway looks for ports added or removed with `simhost port add/remove` "
                   "(it then starts again with them; the SIMs keep what arrives meanwhile); 0: never.")
@click.pass_obj
@friendly_errors
def run(obj: Context, only: str | None, router_group: str, router_id: str | None,
        gateway_processes: int | None, port_rescan: float) -> None:
    """Run the services in the foreground until SIGINT/SIGTERM.

    The gateway drives the registered ports and publishes what they receive on
    <prefix>/v1/inbound/<port>; the router assigns each message to its owner and publishes it on
    <prefix>/v1/owners/<login>/messages or <prefix>/v1/unrouted. Run several routers (on one
    database) to share the load.
    """
    sessions = obj.sessions()
    runner = None
    if only in (None, "gateway"):
        from simhost.gateway.runner import GatewayRunner
        from simhost.gateway.service import load_ports

        ports = load_ports(sessions)
        if not ports and only == "gateway":
            raise click.ClickException("no ports registered: add one with `simhost port add NAME --url URL`")
        runner = GatewayRunner(obj.settings, obj.engine(), gateway_processes,
                               announce=lambda line: click.echo(line, err=True))
    router = None
    if only in (None, "router"):
        from simhost.router.service import Router

        router = Router(obj.settings, sessions, group=router_group, router_id=router_id)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if runner is not None:
        runner.start(ports)  # first: it may fork, which must happen before any other thread starts
    if router is not None:
        router.start()
        click.echo(f"router: group {router_group}, broker {obj.settings.mqtt}", err=True)
    click.echo("running; stop with Ctrl-C", err=True)
    interval = port_rescan if runner is not None and port_rescan > 0 else None
    while not stop.wait(interval):
        assert runner is not None
        try:
            runner.reload(load_ports(sessions))
        except Exception:
            logging.getLogger("simhost.cli").exception("reloading the registered ports failed; trying again")
    if router is not None:
        router.stop()
    if runner is not None:
        runner.stop()
