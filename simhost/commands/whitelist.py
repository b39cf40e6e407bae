"""`simhost whitelist`: alphanumeric sender names approved, one by one, for hosted-company numbers."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from simhost.commands.common import Context, echo_table, json_option
from simhost.commands.registry import _conflicts_named, _iso, _list_or_note, _whitelist_json, registry_errors
from simhost.inputs import APPROVER_MAX, SENDER_NAME_MAX, bounded, shown
from simhost.registry import validate
from simhost.registry.lookup import company_slot as _company_slot
from simhost.registry.lookup import find_slot as _find_slot
from simhost.registry.lookup import label as _label
from simhost.registry.lookup import whitelist_entry as _entry
from simhost.registry.models import SimSlot, WhitelistEntry, bump_version
from simhost.registry.validate import ValidationError


@click.group()
def whitelist() -> None:
    """Alphanumeric sender names approved, one by one, for hosted-company numbers."""


def _default_approver() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@whitelist.command("add", help=f"Approve SENDER_NAME (e.g. Sberbank; case is ignored; at most {SENDER_NAME_MAX} "
                               "characters, as in an SMS) on the hosted-company number NUMBER.")
@click.argument("number", metavar="NUMBER")
@click.argument("sender_name", metavar="SENDER_NAME")
@click.option("--by", "approved_by", default=None, metavar="NAME",
              help=f"Who approved it, at most {APPROVER_MAX} characters [default: your user name].")
@click.pass_obj
@registry_errors
def whitelist_add(obj: Context, number: str, sender_name: str, approved_by: str | None) -> None:
    name = validate.sender_name(sender_name)
    by = approved_by if approved_by is not None else _default_approver()
    if by is not None:
        by = bounded(by, APPROVER_MAX, "approver")
    sessions = obj.sessions()

    def duplicate(s: Session) -> str | None:
        row = _company_slot(s, number, obj.settings.region)
        existing = _entry(s, row, name)
        if existing is None:
            return None
        return (f"{existing.sender_name!r} is already on the whitelist of {row.msisdn} "
                f"(approved by {existing.approved_by or 'unknown'} at {_iso(existing.approved_at)})")

    with _conflicts_named(sessions, duplicate), sessions.begin() as s:
        conflict = duplicate(s)
        if conflict:
            raise ValidationError(conflict)
        row = _company_slot(s, number, obj.settings.region)
        s.add(WhitelistEntry(slot_id=row.id, sender_name=name, sender_key=validate.sender_key(name),
                             approved_by=by, approved_at=datetime.now(UTC)))
        bump_version(s)
    click.echo(f"{name} approved on {_label(row)}" + (f" by {by}" if by else ""))


@whitelist.command("remove")
@click.argument("number", metavar="NUMBER")
@click.argument("sender_name", metavar="SENDER_NAME")
@click.pass_obj
@registry_errors
def whitelist_remove(obj: Context, number: str, sender_name: str) -> None:
    """Withdraw SENDER_NAME from the whitelist of NUMBER."""
    with obj.sessions().begin() as s:
        row = _company_slot(s, number, obj.settings.region)
        existing = _entry(s, row, sender_name)
        if existing is None:
            raise ValidationError(f"{shown(sender_name.strip())} is not on the whitelist of {row.msisdn} "
                                  f"(see `simhost whitelist list {row.msisdn}`)")
        name = existing.sender_name
        s.delete(existing)
        bump_version(s)
    click.echo(f"{name} removed from the whitelist of {_label(row)}")


@whitelist.command("list")
@click.argument("number", metavar="[NUMBER]", required=False)
@json_option
@click.pass_obj
@registry_errors
def whitelist_list(obj: Context, number: str | None, as_json: bool) -> None:
    """List approved sender names, of NUMBER or of every number."""
    with obj.sessions()() as s:
        query = (select(WhitelistEntry, SimSlot.msisdn).join(SimSlot, WhitelistEntry.slot_id == SimSlot.id)
                 .order_by(SimSlot.msisdn, WhitelistEntry.sender_key))
        if number is not None:
            query = query.where(SimSlot.id == _find_slot(s, number, obj.settings.region).id)
        rows = [_whitelist_json(entry, msisdn) for entry, msisdn in s.execute(query)]
    if not _list_or_note(rows, as_json, "no sender names approved" + (f" on {number}" if number else "")):
        return
    echo_table(("NUMBER", "SENDER NAME", "APPROVED BY", "APPROVED AT"),
               [(r["number"], r["sender_name"], r["approved_by"] or "unknown", r["approved_at"]) for r in rows])
