"""`simhost sent|inbox|status`: sends recorded for reply attribution, routed messages, the bank's counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import func, select

from simhost.commands.common import Context, echo_json, echo_table, json_option
from simhost.commands.registry import _customer, _iso, registry_errors
from simhost.models import OutboxMessage, Port
from simhost.registry import validate
from simhost.registry.models import (
    Customer,
    RoutedMessage,
    SimSlot,
    current_version,
)
from simhost.registry.snapshot import record_send
from simhost.router.directory import NUMBER_KINDS

INBOX_LIMIT = 50
TEXT_PREVIEW = 60


# ---- sent --------------------------------------------------------------------------------------------


@click.group()
def sent() -> None:
    """Sends made by other systems, recorded so that replies on shared numbers find their customer."""


@sent.command("record")
@click.option("--from", "from_number", required=True, metavar="NUMBER",
              help="The number (or alphanumeric sender name) the SMS was sent from.")
@click.option("--to", "to", required=True, metavar="NUMBER", help="The subscriber it was sent to.")
@click.option("--owner", "owner_login", required=True, metavar="LOGIN", help="The customer who sent it.")
@click.option("--at", "at", default=None, metavar="ISO8601", help="When it was sent [default: now].")
@click.pass_obj
@registry_errors
def sent_record(obj: Context, from_number: str, to: str, owner_login: str, at: str | None) -> None:
    """Record that customer LOGIN sent an SMS to a subscriber (for reply attribution)."""
    when = validate.parse_time(at) if at is not None else datetime.now(UTC)
    with obj.sessions().begin() as s:
        row = record_send(s, from_number, to, owner_login, when, "cli", obj.settings.region)
        login = _customer(s, owner_login).login
    click.echo(f"send recorded: {login} to {row.to_subscriber} from {row.from_number} at {_iso(row.at)}")


# ---- inbox and status --------------------------------------------------------------------------------


def _message_json(m: RoutedMessage) -> dict[str, Any]:
    return {"id": m.id, "kind": m.kind, "status": m.status, "owner": m.owner, "number": m.number,
            "number_kind": m.number_kind, "sender": m.sender, "rule": m.rule, "reason_code": m.reason_code,
            "reason": m.reason, "text": m.text, "received_at": _iso(m.received_at), "routed_at": _iso(m.routed_at),
            "published_at": _iso(m.published_at)}


@click.command()
@click.option("--owner", "owner_login", default=None, metavar="LOGIN", help="Only this customer's messages.")
@click.option("--since", default=None, metavar="ISO8601", help="Only messages received at or after this time.")
@click.option("--unrouted", is_flag=True, help="Only messages no customer got (unassigned or rejected).")
@click.option("--limit", type=click.IntRange(min=1), default=INBOX_LIMIT, show_default=True,
              help="At most this many (the newest).")
@json_option
@click.pass_obj
@registry_errors
def inbox(obj: Context, owner_login: str | None, since: str | None, unrouted: bool, limit: int,
          as_json: bool) -> None:
    """Messages the router decided on, newest first: routed ones, and the unrouted with the reason."""
    query = select(RoutedMessage).order_by(RoutedMessage.received_at.desc(), RoutedMessage.id).limit(limit)
    if since is not None:
        query = query.where(RoutedMessage.received_at >= validate.parse_time(since))
    if unrouted:
        query = query.where(RoutedMessage.status != "routed")
    with obj.sessions()() as s:
        if owner_login is not None:
            query = query.where(RoutedMessage.owner == _customer(s, owner_login).login)
        rows = [_message_json(m) for m in s.scalars(query)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no messages")
        return
    table = []
    for r in rows:
        text = (r["text"] or "").replace("\n", " ")
        if len(text) > TEXT_PREVIEW:
            text = text[:TEXT_PREVIEW - 1] + "…"
        who = r["owner"] if r["status"] == "routed" else f"{r['status']}: {r['reason_code']}"
        table.append((r["received_at"], r["number"], r["sender"], who, text))
    echo_table(("RECEIVED", "NUMBER", "SENDER", "OWNER OR REASON", "TEXT"), table)


@click.command()
@json_option
@click.pass_obj
@registry_errors
def status(obj: Context, as_json: bool) -> None:
    """Counts at a glance: customers, numbers by kind, ports, the last 24 h of messages, the outbox."""
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
    total_slots = sum(by_kind.values())
    data = {
        "customers": dict(customers),
        "slots": {"total": total_slots, "by_kind": dict(by_kind), "disabled": disabled_slots},
        "ports": dict(ports),
        "messages_24h": dict(messages),
        "outbox_pending": pending,
        "registry_version": version,
    }
    if as_json:
        echo_json(data)
        return
    click.echo(f"customers: {customers['total']} ({customers['verified']} verified, {customers['disabled']} disabled)")
    kinds = ", ".join(f"{k} {n}" for k, n in by_kind.items())
    click.echo(f"numbers:   {total_slots} ({kinds}; {disabled_slots} disabled)")
    click.echo(f"ports:     {ports['total']} ({ports['enabled']} enabled)")
    click.echo(f"messages in the last 24 h: {messages['routed']} routed, {messages['unrouted']} unrouted, "
               f"{messages['rejected']} rejected")
    click.echo(f"outbox:    {pending} waiting for the broker")
    click.echo(f"registry version {version}")


