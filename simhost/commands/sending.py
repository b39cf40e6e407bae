"""`simhost send` and `simhost sends`: the operator sends an SMS through the bank and follows the outcomes."""

from __future__ import annotations

import threading
import time
from typing import Any

import click
from sqlalchemy import select

from simhost.commands.common import Context, echo_json, echo_table, json_option
from simhost.commands.registry import _customer, _iso, registry_errors
from simhost.registry import validate
from simhost.registry.models import Customer
from simhost.sending.models import FINAL, SENT, Send, SendPart
from simhost.sending.requests import RequestError, SendRequest, accept
from simhost.topics import Topics

WAIT_POLL_S = 0.2
DEFAULT_WAIT_S = 120.0
SENDS_LIMIT = 50


def _send_json(row: Send, login: str, mrs: list[int | None]) -> dict[str, Any]:
    return {"id": row.id, "client_id": row.client_id, "owner": login, "state": row.state,
            "from": row.from_number or row.requested_from, "to": row.to_number, "port": row.port,
            "parts": row.parts, "message_references": mrs, "reason_code": row.reason_code, "reason": row.reason,
            "text": row.text, "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


@click.command(help="Send TEXT through the bank for customer --owner, from one of its numbers or a shared one.\n\n"
                    "Prints the send's id. The gateway driving the port of the chosen number puts it on the air; "
                    "`simhost sends` shows how it went, and so does --wait.")
@click.option("--owner", "owner_login", required=True, help="The customer the send is for (replies become theirs).")
@click.option("--from", "from_number", required=True, metavar="NUMBER|shared",
              help="One of the customer's dedicated numbers, or `shared` (the least busy shared number).")
@click.option("--to", "to_number", required=True, metavar="NUMBER", help="The recipient.")
@click.option("--id", "client_id", default=None, help="An idempotency key: the same key again is the same send.")
@click.option("--no-report", is_flag=True, help="Do not ask the network for a delivery report.")
@click.option("--wait", is_flag=True, help="Wait for the outcome (sent, or delivered when a report was asked for); "
                                           "exit 1 when it failed.")
@click.option("--wait-timeout", type=float, default=DEFAULT_WAIT_S, show_default=True, help="Seconds --wait waits.")
@click.argument("text")
@click.pass_obj
@registry_errors
def send(obj: Context, owner_login: str, from_number: str, to_number: str, client_id: str | None, no_report: bool,
         wait: bool, wait_timeout: float, text: str) -> None:
    sessions = obj.sessions()
    request = SendRequest(validate.login(owner_login), from_number, to_number, text, not no_report, client_id)
    try:
        with sessions.begin() as s:
            row, created = accept(s, request, region=obj.settings.region, source="cli",
                                  topics=Topics(obj.settings.topic_prefix), max_parts=obj.settings.send_max_parts)
    except RequestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(row.id)
    if not created:
        click.echo(f"the same send as before (id {client_id}): {row.state}", err=True)
    if row.state in FINAL:
        raise click.ClickException(f"send {row.id} {row.state}: {row.reason}")
    if wait:
        _wait(sessions, row.id, wait_timeout)


def _wait(sessions: Any, send_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        with sessions() as s:
            row = s.get(Send, send_id)
        assert row is not None
        done = row.state in FINAL or (row.state == SENT and not row.report)
        if done:
            if row.state in (SENT, "delivered"):
                click.echo(f"{row.state}", err=True)
                return
            raise click.ClickException(f"send {send_id} {row.state}: {row.reason_code}: {row.reason}")
        if time.monotonic() >= deadline:
            raise click.ClickException(f"send {send_id} is still {row.state} after {timeout_s:g} s "
                                       "(`simhost sends` shows it later)")
        pause.wait(WAIT_POLL_S)  # another process updates the row; the database is all there is to watch


@click.command(help="List sends, newest first, with their state.")
@click.option("--owner", "owner_login", default=None, help="Only this customer's.")
@click.option("--since", default=None, metavar="ISO8601", help="Only those requested since then.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=SENDS_LIMIT, show_default=True)
@json_option
@click.pass_obj
@registry_errors
def sends(obj: Context, owner_login: str | None, since: str | None, limit: int, as_json: bool) -> None:
    query = (select(Send, Customer.login).join(Customer, Customer.id == Send.owner_id)
             .order_by(Send.created_at.desc()).limit(limit))
    if since is not None:
        query = query.where(Send.created_at >= validate.parse_time(since))
    with obj.sessions()() as s:
        if owner_login is not None:
            query = query.where(Send.owner_id == _customer(s, owner_login).id)
        found = [(row, login) for row, login in s.execute(query)]
        parts: dict[str, list[int | None]] = {}
        for send_id, mr in s.execute(select(SendPart.send_id, SendPart.mr)
                                     .where(SendPart.send_id.in_([r.id for r, _ in found])).order_by(SendPart.seq)):
            parts.setdefault(send_id, []).append(mr)
    rows = [_send_json(r, login, parts.get(r.id, [])) for r, login in found]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no sends")
        return
    echo_table(("REQUESTED", "OWNER", "FROM", "TO", "PARTS", "STATE", "REASON"),
               [(r["created_at"], r["owner"], r["from"], r["to"], r["parts"], r["state"], r["reason_code"])
                for r in rows], right=("PARTS",))
