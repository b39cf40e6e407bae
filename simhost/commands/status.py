"""`simhost status [--watch]`: the database's counts and every port's live status from the broker."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select

from simhost.commands.common import Context, echo_json, echo_table, json_option
from simhost.commands.registry import registry_errors
from simhost.models import OutboxMessage, Port
from simhost.registry.models import Customer, RoutedMessage, SimSlot, current_version
from simhost.router.directory import NUMBER_KINDS
from simhost.status_feed import PortReport, StatusFeed
from simhost.topics import Topics

# what a gateway puts in the outbox for each message a port received (not send outcomes or reports)
RECEIVED_KINDS = ("sms", "call", "undecodable")
# signal bars as phones draw them from the received power (dBm): at least -73 is four bars, -103 one
BAR_FLOORS_DBM = (-103, -93, -83, -73)
BARS = "▂▄▆█"
WATCH_INTERVAL_S = 0.5
DB_REFRESH_S = 5.0  # the counts are read again this often even when no status arrives
HEADERS = ("PORT", "STATE", "SIGNAL", "OPERATOR", "REGISTRATION", "ICCID", "MSISDN", "TODAY", "STORAGE",
           "BALANCE", "LAST ERROR")


@dataclass(frozen=True)
class PortLine:
    """One port as `status` shows it: the registry's row (if any), its last status (if any), today's messages."""

    name: str
    registered: bool
    enabled: bool
    report: PortReport | None
    messages_today: int

    @property
    def state(self) -> str:
        if self.report is not None:
            return self.report.state
        return "unknown" if self.enabled else "disabled"


def signal_bars(dbm: int | None) -> int | None:
    return None if dbm is None else sum(dbm >= floor for floor in BAR_FLOORS_DBM)


def _signal_text(dbm: int | None) -> str | None:
    bars = signal_bars(dbm)
    return None if bars is None else f"{BARS[:bars]}{'·' * (len(BARS) - bars)} {dbm} dBm"


def _storage_text(r: PortReport) -> str | None:
    if r.storage_used is None or r.storage_total is None:
        return None
    return f"{r.storage_used}/{r.storage_total}" + (f" {r.storage_memory}" if r.storage_memory else "")


def port_json(line: PortLine) -> dict[str, object]:
    r = line.report or PortReport(line.name, line.state)
    return {
        "port": line.name, "registered": line.registered, "enabled": line.enabled, "state": line.state,
        "gateway": r.gateway, "signal_dbm": r.signal_dbm, "signal_bars": signal_bars(r.signal_dbm),
        "operator": r.operator, "registration": r.registration, "iccid": r.iccid, "msisdn": r.msisdn,
        "messages_today": line.messages_today,
        "storage": {"used": r.storage_used, "total": r.storage_total, "memory": r.storage_memory},
        "balance": r.balance, "last_error": r.last_error, "since": r.since,
    }


def port_row(line: PortLine) -> tuple[str | int | None, ...]:
    r = line.report or PortReport(line.name, line.state)
    return (line.name, line.state, _signal_text(r.signal_dbm), r.operator, r.registration, r.iccid, r.msisdn,
            line.messages_today, _storage_text(r), r.balance, r.last_error)


def _today_start() -> datetime:
    """The start of today on this machine's clock, in UTC."""
    return datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def port_lines(obj: Context, reports: dict[str, PortReport]) -> list[PortLine]:
    """Every registered port and every port with a status, by name."""
    with obj.sessions()() as s:
        registered = dict(s.execute(select(Port.name, Port.enabled)).all())
        today = dict(s.execute(
            select(OutboxMessage.port, func.count())
            .where(OutboxMessage.kind.in_(RECEIVED_KINDS), OutboxMessage.created_at >= _today_start())
            .group_by(OutboxMessage.port)).all())
    names = sorted(registered.keys() | reports.keys())
    return [PortLine(name, name in registered, registered.get(name, True), reports.get(name), today.get(name, 0))
            for name in names]


@dataclass(frozen=True)
class DatabaseCounts:
    """Customers, numbers by kind, ports, the last 24 h of messages, the outbox, the registry's version."""

    customers: dict[str, int]
    by_kind: dict[str, int]
    disabled_slots: int
    ports: dict[str, int]
    messages: dict[str, int]
    outbox_pending: int
    registry_version: int

    def to_json(self) -> dict[str, object]:
        return {
            "customers": self.customers,
            "slots": {"total": sum(self.by_kind.values()), "by_kind": self.by_kind, "disabled": self.disabled_slots},
            "ports": self.ports,
            "messages_24h": self.messages,
            "outbox_pending": self.outbox_pending,
            "registry_version": self.registry_version,
        }

    def echo(self) -> None:
        c, ports, m = self.customers, self.ports, self.messages
        click.echo(f"customers: {c['total']} ({c['verified']} verified, {c['disabled']} disabled)")
        kinds = ", ".join(f"{k} {n}" for k, n in self.by_kind.items())
        click.echo(f"numbers:   {sum(self.by_kind.values())} ({kinds}; {self.disabled_slots} disabled)")
        click.echo(f"ports:     {ports['total']} ({ports['enabled']} enabled)")
        click.echo(f"messages in the last 24 h: {m['routed']} routed, {m['unrouted']} unrouted, "
                   f"{m['rejected']} rejected")
        click.echo(f"outbox:    {self.outbox_pending} waiting for the broker")
        click.echo(f"registry version {self.registry_version}")


def database_counts(obj: Context) -> DatabaseCounts:
    since = datetime.now(UTC) - timedelta(hours=24)
    with obj.sessions()() as s:
        customers = Counter({"total": 0, "verified": 0, "disabled": 0})
        for verified, enabled in s.execute(select(Customer.verified, Customer.enabled)):
            customers["total"] += 1
            customers["verified"] += int(verified)
            customers["disabled"] += int(not enabled)
        by_kind = Counter(dict.fromkeys(NUMBER_KINDS, 0))
        disabled_slots = 0
        for k, enabled in s.execute(select(SimSlot.kind, SimSlot.enabled)):
            by_kind[k] += 1
            disabled_slots += int(not enabled)
        ports = Counter({"total": 0, "enabled": 0})
        for (enabled,) in s.execute(select(Port.enabled)):
            ports["total"] += 1
            ports["enabled"] += int(enabled)
        messages = Counter({"routed": 0, "unrouted": 0, "rejected": 0})
        messages.update(dict(s.execute(select(RoutedMessage.status, func.count())
                                       .where(RoutedMessage.received_at >= since)
                                       .group_by(RoutedMessage.status)).all()))
        pending = s.scalar(select(func.count()).select_from(OutboxMessage)
                           .where(OutboxMessage.published_at.is_(None))) or 0
        version = current_version(s)
    return DatabaseCounts(dict(customers), dict(by_kind), disabled_slots, dict(ports), dict(messages), pending,
                          version)


@click.command()
@click.option("--watch", is_flag=True,
              help="Keep the port table on screen, redrawn as statuses arrive, until Ctrl-C (plain tables, one per "
                   "change, when the output is not a terminal).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=WATCH_INTERVAL_S, show_default=True,
              metavar="SECONDS", help="With --watch: redraw at most this often.")
@json_option
@click.pass_obj
@registry_errors
def status(obj: Context, watch: bool, interval: float, as_json: bool) -> None:
    """The bank at a glance: counts from the database, and each port's live status from the broker (state,
    signal, operator, registration, ICCID, MSISDN, messages today, storage use, balance, last error)."""
    if watch:
        if as_json:
            raise click.UsageError("--watch shows a table; it cannot be combined with --json")
        _watch(obj, interval)
        return
    feed = StatusFeed(obj.settings.mqtt, Topics(obj.settings.topic_prefix))
    try:
        if feed.start():
            feed.settle()
        reports = feed.reports()
    finally:
        feed.close()
    data = database_counts(obj)
    lines = port_lines(obj, reports)
    if as_json:
        echo_json({**data.to_json(), "broker": {"url": str(obj.settings.mqtt), "reachable": feed.error is None,
                                      "error": feed.error},
                   "port_status": [port_json(line) for line in lines]})
        return
    if feed.error is not None:
        click.echo(f"{feed.error}; port states unknown", err=True)
    data.echo()
    if lines:
        click.echo()
        echo_table(HEADERS, [port_row(line) for line in lines], right=("TODAY",))


def _watch(obj: Context, interval: float) -> None:
    """Redraw on each status (at most every `interval` s) until SIGINT or SIGTERM, which end it with exit 0."""
    console = Console()
    wake = threading.Event()
    feed = StatusFeed(obj.settings.mqtt, Topics(obj.settings.topic_prefix), on_change=wake.set)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        feed.start_async()
        feed.settle()
        if console.is_terminal:
            with Live(console=console, auto_refresh=False) as live:
                while True:
                    live.update(_rich_table(obj, feed), refresh=True)
                    _next_round(wake, interval)
        else:
            last: list[str] = []
            while True:
                heading, rows = _heading(feed), [port_row(line) for line in port_lines(obj, feed.reports())]
                shown = [heading, *map(repr, rows)]
                if shown != last:
                    click.echo(f"{datetime.now().astimezone():%H:%M:%S} {heading}")
                    echo_table(HEADERS, rows, right=("TODAY",))
                    click.echo()
                    last = shown
                _next_round(wake, interval)
    except KeyboardInterrupt:
        pass
    finally:
        feed.close()


def _next_round(wake: threading.Event, interval: float) -> None:
    """Until a status arrives (or the counts are due), and at least `interval` after the last drawing."""
    drawn = time.monotonic()
    wake.wait(DB_REFRESH_S)
    wake.clear()
    time.sleep(max(0.0, drawn + interval - time.monotonic()))


def _heading(feed: StatusFeed) -> str:
    return f"broker {feed.target}: " + ("connected" if feed.connected else (feed.error or "connecting") + ", retrying")


STATE_STYLES = {"ready": "green", "degraded": "yellow", "dead": "red", "offline": "red"}


def _rich_table(obj: Context, feed: StatusFeed) -> Table:
    table = Table(title=f"{datetime.now().astimezone():%H:%M:%S}  {_heading(feed)}", title_justify="left",
                  caption="Ctrl-C to quit", caption_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="right" if header == "TODAY" else "left", no_wrap=header != "LAST ERROR")
    for line in port_lines(obj, feed.reports()):
        # Text, not markup: a last error may hold square brackets
        cells = [Text("-" if c is None else str(c)) for c in port_row(line)]
        cells[1].stylize(STATE_STYLES.get(line.state, ""))
        table.add_row(*cells)
    return table

