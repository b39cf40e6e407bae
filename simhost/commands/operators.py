"""`simhost operator`: the people who run the bank, for the web and the operators' REST API."""

from __future__ import annotations

import click
from sqlalchemy.orm import Session

from simhost.commands.common import Context, echo_json, json_option
from simhost.commands.registry import _conflicts_named, keys_command, registry_errors
from simhost.security import apikeys


@click.group()
def operator() -> None:
    """Operators: a name and a password for the web, and API keys for the operators' REST API."""


@operator.command("add")
@click.argument("name", metavar="NAME")
@json_option
@click.pass_obj
@registry_errors
def operator_add(obj: Context, name: str, as_json: bool) -> None:
    """Add operator NAME (2-64 letters, digits, '.', '_', '@', '-') and print its password (shown only this once)."""
    sessions = obj.sessions()
    key = apikeys.operator_name(name)
    with _conflicts_named(sessions, lambda _s: f"operator {key!r} already exists"), sessions.begin() as s:
        row, password = apikeys.add_operator(s, key)
    if as_json:
        echo_json({"name": row.name, "password": password})
        return
    click.echo(f"operator {row.name} added; password (shown only now): {password}")


def _operator_holder(s: Session, name: str) -> tuple[str, dict[str, int]]:
    row = apikeys.find_operator(s, name)
    return row.name, {"operator_id": row.id}


keys_command(operator, "operator", _operator_holder)
