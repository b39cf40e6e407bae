"""`simhost sent|inbox`: sends recorded for reply attribution, and the messages the router decided on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import select

from simhost.commands.common import Context, echo_json, echo_table, json_option
from simhost.commands.registry import _customer, _iso, registry_errors
from simhost.registry import validate
from simhost.registry.models import (
    RoutedMessage,
)
from simhost.registry.snapshot import record_send

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


# ---- inbox --------------------------------------------------------------------------------


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
