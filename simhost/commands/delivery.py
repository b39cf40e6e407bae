"""`simhost delivery list|retry`: the delivery queue, what failed and why, and sending failed ones again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import func, select

from simhost.commands.common import Context, echo_table, json_option
from simhost.commands.registry import _customer, _iso, _list_or_note, registry_errors
from simhost.delivery.models import CHANNELS, DEAD, FAILED, Delivery, DeliveryAttempt
from simhost.delivery.queue import revive
from simhost.registry.validate import ValidationError

LIST_LIMIT = 100


def _delivery_json(d: Delivery, attempts: int) -> dict[str, Any]:
    return {"id": d.id, "message_id": d.message_id, "owner": d.owner, "channel": d.channel, "event": d.kind,
            "state": d.state, "tries": d.tries, "attempts": attempts, "next_try_at": _iso(d.next_try_at),
            "last_error": d.last_error, "created_at": _iso(d.created_at), "delivered_at": _iso(d.delivered_at)}


@click.group()
def delivery() -> None:
    """The delivery queue: each routed message to each of its owner's channels (webhook, e-mail, SMPP, SMS to a
    phone), with retries."""


@delivery.command("list")
@click.option("--owner", "owner_login", default=None, metavar="LOGIN", help="Only this customer's deliveries.")
@click.option("--failed", is_flag=True, help="Only those that failed or are dead (every try failed).")
@click.option("--channel", type=click.Choice(CHANNELS), default=None, help="Only this channel's deliveries.")
@click.option("--limit", default=LIST_LIMIT, show_default=True, type=click.IntRange(min=1),
              help="Show at most this many, newest first.")
@json_option
@click.pass_obj
@registry_errors
def delivery_list(obj: Context, owner_login: str | None, failed: bool, channel: str | None, limit: int,
                  as_json: bool) -> None:
    """List deliveries, newest first: state, tries and the last error."""
    with obj.sessions()() as s:
        query = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit)
        if owner_login is not None:
            query = query.where(Delivery.owner == _customer(s, owner_login).login)
        if failed:
            query = query.where(Delivery.state.in_((FAILED, DEAD)))
        if channel is not None:
            query = query.where(Delivery.channel == channel)
        found = list(s.scalars(query))
        counts: dict[int, int] = {r[0]: r[1] for r in s.execute(
            select(DeliveryAttempt.delivery_id, func.count())
            .where(DeliveryAttempt.delivery_id.in_([d.id for d in found])).group_by(DeliveryAttempt.delivery_id))}
        rows = [_delivery_json(d, counts.get(d.id, 0)) for d in found]
    if not _list_or_note(rows, as_json, "no deliveries" + (" failed" if failed else "")):
        return
    echo_table(("ID", "OWNER", "CHANNEL", "EVENT", "STATE", "TRIES", "MESSAGE", "LAST ERROR"),
               [(r["id"], r["owner"], r["channel"], r["event"], r["state"], r["tries"], r["message_id"],
                 r["last_error"] or "") for r in rows], right=("ID", "TRIES"))


@delivery.command("retry")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--owner", "owner_login", default=None, metavar="LOGIN",
              help="Every failed or dead delivery of this customer.")
@click.pass_obj
@registry_errors
def delivery_retry(obj: Context, ids: tuple[int, ...], owner_login: str | None) -> None:
    """Make failed and dead deliveries (by ID, or all of --owner's) pending again, due now."""
    if not ids and owner_login is None:
        raise ValidationError("give delivery ids or --owner LOGIN (see `simhost delivery list --failed`)")
    with obj.sessions().begin() as s:
        login = _customer(s, owner_login).login if owner_login is not None else None
        if ids:
            known = set(s.scalars(select(Delivery.id).where(Delivery.id.in_(ids))))
            missing = [i for i in ids if i not in known]
            if missing:
                raise ValidationError(f"no delivery {missing[0]} (see `simhost delivery list`)")
        count = revive(s, datetime.now(UTC), ids=ids, owner=login)
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} pending again" if count
               else "nothing to retry: none of them failed")
