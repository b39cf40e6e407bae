"""The `simhost` command line (click): database, ports, running the services, PDU inspection."""

from __future__ import annotations

import importlib
import logging
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from simhost.commands.common import Context, echo_json, friendly, friendly_errors
from simhost.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, PROCESSES, Processes, Settings, parse_processes, shown_url
from simhost.db import sqlite_file, upgrade
from simhost.inputs import (
    ARGUMENT_MAX,
    PORT_NAME_MAX,
    PORT_URL_MAX,
    SHOWN_MAX,
    is_utf8,
    shown,
    utf8,
)
from simhost.logs import LOG_FORMATS, announce, setup_logging
from simhost.models import Port
from simhost.registry import ports as port_registry

F = TypeVar("F", bound=Callable[..., Any])
LONG_WORD_RE = re.compile(rf"\S{{{SHOWN_MAX + 1},}}")


@contextmanager
def _short_usage_errors() -> Iterator[None]:
    """click's own usage errors (unknown command, invalid choice, ...) quote the argument whole: cut it short."""
    try:
        yield
    except click.UsageError as exc:
        exc.message = LONG_WORD_RE.sub(_cut_word, exc.message)  # type: ignore[misc]  # Final only in the stubs
        raise


def _cut_word(match: re.Match[str]) -> str:
    word = match.group()
    closing = word[len(word.rstrip("'\")].,:;")):][-3:]
    return word[:SHOWN_MAX] + "…" + closing


def _processes(value: str | None) -> Processes | None:
    """`--gateway-processes`: a positive number or "auto"; None when not given."""
    if value is None:
        return None
    try:
        return parse_processes(value)
    except ValueError:
        raise click.BadParameter(f"{shown(value)}: {PROCESSES.hint}") from None


class LazyGroup(click.Group):
    """The top-level group: commands kept in other modules are imported only when used or listed
    (`simhost run` starts without loading the registry and MQTT-account commands)."""

    LAZY: ClassVar[dict[str, str]] = {
        "mqtt": "simhost.commands.mqtt:mqtt",
        "pdu": "simhost.commands.pdu:pdu",
        "udev": "simhost.commands.udev:udev",
        **{name: f"simhost.commands.registry:{name}" for name in ("owner", "slot")},
        "whitelist": "simhost.commands.whitelist:whitelist",
        **{name: f"simhost.commands.messages:{name}" for name in ("sent", "inbox")},
        "status": "simhost.commands.status:status",
        **{name: f"simhost.commands.sending:{name}" for name in ("send", "sends")},
        "config": "simhost.commands.config:config",
        "delivery": "simhost.commands.delivery:delivery",
        "operator": "simhost.commands.operators:operator",
        "ussd": "simhost.commands.ussd:ussd",
    }

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for arg in args:
            if not is_utf8(arg):
                raise click.ClickException(f"argument {shown(arg)} is not UTF-8 text: simhost takes UTF-8 only")
            if len(arg) > ARGUMENT_MAX:
                raise click.ClickException(f"argument {shown(arg)} is too long: {len(arg)} characters, "
                                           f"at most {ARGUMENT_MAX}")
        with _short_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        # also for commands without friendly_errors of their own, and the subcommands' usage errors
        with friendly(), _short_usage_errors():
            return super().invoke(ctx)

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
@click.option("--config", "config_path", default=None, metavar="PATH",
              help=f"TOML configuration file [env {CONFIG_ENV}; default {DEFAULT_CONFIG_PATH} if it exists]. "
                   "Flags override the environment, which overrides the file; `simhost config show` shows "
                   "what is in effect and where it came from.")
@click.option("--db", "db_url", default=None, metavar="URL",
              help="Database URL [env SIMHOST_DB; default sqlite:///simhost.db in the current "
                   "directory; PostgreSQL: postgresql://user@host/db].")
@click.option("--mqtt", "mqtt_url", default=None, metavar="URL",
              help="MQTT broker URL [env SIMHOST_MQTT; default mqtt://127.0.0.1:1883; mqtt://user@host:port, "
                   "the password from --mqtt-password-file or SIMHOST_MQTT_PASSWORD (a password in the URL "
                   "works, but every local user can read a command line)].")
@click.option("--mqtt-password-file", default=None, metavar="PATH",
              help="Read the MQTT user's password from this file (mode 0600; a trailing newline is ignored) "
                   "[env SIMHOST_MQTT_PASSWORD_FILE; or give the password itself in SIMHOST_MQTT_PASSWORD].")
@click.option("--topic-prefix", default=None,
              help="MQTT topic prefix [env SIMHOST_TOPIC_PREFIX; default simhost].")
@click.option("--region", default=None,
              help="Default region for phone numbers without a country code [env SIMHOST_REGION; default RU].")
@click.option("-v", "--verbose", count=True,
              help="More logging: -v a line per message received, routed and delivered and per port state change; "
                   "-vv debugging; -vvv the AT wire trace.")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default=None,
              help="text, or json: one JSON object per line (time, level, logger, message and the event's fields) "
                   "[env SIMHOST_LOG_FORMAT, log.format in the config file; default text].")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db_url: str | None, mqtt_url: str | None,
         mqtt_password_file: str | None, topic_prefix: str | None, region: str | None, verbose: int,
         log_format: str | None) -> None:
    """simhost: receive every SMS and call of a GSM SIM bank and route it to its owner over MQTT."""
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}.get(verbose)
    if level is None:
        from simhost_drivers.at.trace import TRACE  # the drivers' wire level; loaded only when asked for

        level = TRACE
    loaded = Settings.load(config_path, flags={
        "db_url": db_url, "mqtt_url": mqtt_url, "mqtt_password_file": mqtt_password_file,
        "topic_prefix": topic_prefix, "region": region, "log_format": log_format})
    setup_logging(level, loaded.settings.log_format)
    # migrations run on every start; their progress lines only matter when debugging
    logging.getLogger("alembic").setLevel(logging.INFO if verbose >= 2 else logging.WARNING)
    for warning in loaded.warnings:
        click.echo(warning, err=True)
    ctx.obj = Context(loaded.settings, loaded)


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.pass_obj
@friendly_errors
def db_upgrade(obj: Context) -> None:
    """Create the database or migrate it to the newest schema (alembic head).

    This is the only command that creates a database; a SQLite file is created mode 0600 (it holds the
    customers' MQTT password hashes), and so are its -wal and -shm files.
    """
    url = obj.settings.db_url
    path = sqlite_file(url)
    upgrade(url)
    click.echo(f"database {shown_url(url)} is at the newest schema")
    if path is not None and path.stat().st_mode & 0o077:
        click.echo(f"warning: {path} is readable by other users; it holds password hashes: chmod 600 it",
                   err=True)


@main.group()
def port() -> None:
    """Modem ports: a name and a pyserial URL (use a stable /dev/serial/by-path or udev name)."""


class DriverChoice(click.Choice[str]):
    """The modem drivers of the drivers' one registry, read only when a driver name is checked or listed (loading
    the drivers for every command would slow `simhost --help` down)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return port_registry.drivers()

    @choices.setter
    def choices(self, _value: object) -> None:
        pass


@port.command("add", help=f"Register a modem port NAME (at most {PORT_NAME_MAX} characters: letters, digits, "
                          "'_', '-' or '.') reachable at --url.")
@click.argument("name")
@click.option("--url", required=True,
              help=f"pyserial URL: /dev/serial/by-path/..., socket://host:port, spy://...; at most {PORT_URL_MAX} "
                   "characters.")
@click.option("--driver", type=DriverChoice(), default=None,
              help="Modem driver; by default it is chosen by probing AT+CGMI/AT+CGMM.")
@click.pass_obj
@friendly_errors
def port_add(obj: Context, name: str, url: str, driver: str | None) -> None:
    sessions = obj.sessions()
    try:
        with sessions.begin() as s:
            row = port_registry.add_port(s, name, url, driver)
    except IntegrityError:
        raise click.ClickException(port_registry.duplicate(name)) from None
    click.echo(f"port {row.name} added: {row.url}" + (f" (driver {driver})" if driver else ""))
    warning = port_registry.missing_device(row.url)
    if warning:
        click.echo(f"warning: {warning}", err=True)


@port.command("scan")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--baud", type=click.IntRange(min=1), default=115200, show_default=True, help="Line rate to probe at.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly_errors
def port_scan(obj: Context, paths: tuple[str, ...], baud: int, as_json: bool) -> None:
    """Probe the serial ports (pyserial's list, /dev/simhost/*, and each PATH given): whether a modem answers, its
    make, IMEI and ICCID, whether it is registered; prints the `simhost port add` commands for the new ones. A port a
    running gateway holds is reported in use, not probed."""
    from simhost.commands.scan import scan_command

    scan_command(obj, paths, baud, as_json)


@port.command("remove")
@click.argument("name")
@click.pass_obj
@friendly_errors
def port_remove(obj: Context, name: str) -> None:
    """Unregister port NAME."""
    with obj.sessions().begin() as s:
        s.delete(port_registry.find_port(s, name))
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
@click.option("--only", type=click.Choice(["gateway", "router", "delivery", "web"]), default=None,
              help="Run only this service (default: gateway, router, delivery and web together).")
@click.option("--router-group", default=None,
              help="Shared-subscription group: routers in one group split the inbound messages between them. "
                   "Behind `simhost mqtt acl`, use the secret group it wrote to services.json "
                   "[env SIMHOST_ROUTER_GROUP, router.group in the config file; default routers].")
@click.option("--router-id", default=None,
              help="This router's MQTT session name (default: the host name). Unacknowledged messages wait "
                   "for the same id after a restart; give each router on one host its own.")
@click.option("--gateway-processes", default=None, metavar="N|auto",
              callback=lambda _c, _p, v: _processes(v),
              help="Split the ports over N gateway processes (one process uses at most one core, about "
                   "1,500 msg/s); auto: one per 32 ports, no more than the cores [env SIMHOST_GATEWAY_PROCESSES, "
                   "gateway.processes in the config file; default auto].")
@click.option("--metrics-listen", default=None, metavar="HOST:PORT",
              help="Serve Prometheus metrics at http://HOST:PORT/metrics [env SIMHOST_METRICS_LISTEN; default: no "
                   "endpoint]. With several gateway processes, process N serves its own at PORT+N; this one (router, "
                   "delivery, a gateway in this process) at PORT. Port 0: any free port. The addresses are printed.")
@click.option("--port-rescan", default=10.0, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help="How often the gateway looks for ports added or removed with `simhost port add/remove` "
                   "(it then starts again with them; the SIMs keep what arrives meanwhile); 0: never.")
@click.option("--smpp-listen", default=None, metavar="HOST:PORT|off",
              help="Where the SMPP server (part of the delivery service) listens for customers' binds "
                   "[default: SIMHOST_SMPP_LISTEN or 0.0.0.0:2775].")
@click.option("--http-listen", default=None, metavar="HOST:PORT",
              help="Where the web server (the REST API under /api/v1) listens [env SIMHOST_HTTP_LISTEN; default "
                   "127.0.0.1:8080].")
@click.pass_obj
@friendly_errors
def run(obj: Context, only: str | None, router_group: str | None, router_id: str | None,
        gateway_processes: Processes | None, metrics_listen: str | None, port_rescan: float,
        smpp_listen: str | None, http_listen: str | None) -> None:
    """Run the services in the foreground until SIGINT/SIGTERM.

    The gateway drives the registered ports and publishes what they receive on
    <prefix>/v1/inbound/<port>; the router assigns each message to its owner and publishes it on
    <prefix>/v1/owners/<login>/messages or <prefix>/v1/unrouted. Run several routers (on one
    database) to share the load. The delivery service delivers each routed message on every channel its
    owner has (`simhost owner forward`): a signed webhook, e-mail, SMS to a phone, retrying until it is
    taken; and its SMPP server hands messages to customers bound to it and takes their submit_sm. The web
    server serves the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json).
    """
    from simhost.metrics import Metrics, parse_listen, serve

    router_group = router_group or obj.settings.router_group
    processes = gateway_processes or obj.settings.gateway_processes
    settings = replace(obj.settings, metrics_listen=metrics_listen or obj.settings.metrics_listen)
    if settings.metrics_listen is not None:
        parse_listen(utf8(settings.metrics_listen, "--metrics-listen (SIMHOST_METRICS_LISTEN)"))
    metrics = Metrics()
    sessions = obj.sessions()
    runner = None
    if only in (None, "gateway"):
        from simhost.gateway.runner import GatewayRunner
        from simhost.gateway.service import load_ports

        ports = load_ports(sessions)
        if not ports and only == "gateway":
            raise click.ClickException("no ports registered: add one with `simhost port add NAME --url URL`")
        runner = GatewayRunner(settings, obj.engine(), None if processes == "auto" else processes,
                               announce=announce, metrics=metrics)
    delivery = None
    smpp = None
    if only in (None, "delivery"):
        from simhost.delivery.service import DeliveryService
        from simhost.smpp.server import SmppServer

        delivery = DeliveryService(settings, sessions, metrics=metrics)
        smpp = SmppServer(settings, sessions, listen=smpp_listen, metrics=metrics)
    router = None
    if only in (None, "router"):
        from simhost.router.service import Router

        router = Router(settings, sessions, group=router_group, router_id=router_id, metrics=metrics,
                        on_deliveries=delivery.wake if delivery is not None else None)
    web = None
    if only in (None, "web"):
        from simhost.web.server import WebServer

        web = WebServer(settings, sessions, http_listen)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if runner is not None:
        runner.start(ports)  # first: it may fork, which must happen before any other thread starts
    server = None
    if settings.metrics_listen is not None:
        try:
            server = serve(settings.metrics_listen, metrics)
        except OSError as exc:
            if runner is not None:
                runner.stop()
            raise click.ClickException(f"cannot serve metrics at {shown(settings.metrics_listen)}: "
                                       f"{exc.strerror or exc}") from None
        announce(f"metrics: {server.url}")
    if router is not None:
        router.start()
        announce(f"router: group {router_group}, broker {obj.settings.mqtt}")
    if delivery is not None:
        delivery.start()
        announce(f"delivery: {delivery.workers} workers, retries from {delivery.retry_s:g} s")
    if smpp is not None and smpp.where is not None:
        smpp.start()
        announce(f"SMPP server: {smpp.where[0]}:{smpp.where[1]}")
    if web is not None:
        web.start()
        announce(f"web: REST API at {web.url}/api/v1 (OpenAPI at {web.url}/api/v1/openapi.json), pages at {web.url}/")
    announce("running; stop with Ctrl-C")
    interval = port_rescan if runner is not None and port_rescan > 0 else None
    while not stop.wait(interval):
        assert runner is not None
        try:
            runner.reload(load_ports(sessions))
        except Exception:
            logging.getLogger("simhost.cli").exception("reloading the registered ports failed; trying again")
    if web is not None:
        web.stop()
    if router is not None:
        router.stop()
    if smpp is not None:
        smpp.stop()
    if delivery is not None:
        delivery.stop()
    if runner is not None:
        runner.stop()
    if server is not None:
        server.stop()
