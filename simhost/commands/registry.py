"""`simhost owner|slot`: field engineers register customers and SIM slots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from simhost.commands.common import Context, echo_json, echo_table, friendly_errors, json_option
from simhost.commands.mqtt import push_customer
from simhost.gateway.rotation import overdue_slots
from simhost.inputs import (
    CUSTOMER_NAME_MAX,
    EMAIL_MAX,
    EMAILS_MAX,
    HTTP_SECRET_MAX,
    HTTP_SECRET_MIN,
    HTTP_URL_MAX,
    SMPP_PASSWORD_MAX,
    SMPP_PASSWORD_MIN,
    SMPP_SYSTEM_ID_MAX,
)
from simhost.registry import customers, forwarding, slots, validate
from simhost.registry.forwarding import LONG_MODES
from simhost.registry.lookup import find_slot as _find_slot
from simhost.registry.lookup import label as _label
from simhost.registry.models import (
    Customer,
    SimSlot,
    WhitelistEntry,
    bump_version,
)
from simhost.registry.validate import ValidationError
from simhost.router.directory import NUMBER_KINDS
from simhost.security import apikeys

F = TypeVar("F", bound=Callable[..., Any])


def registry_errors(func: F) -> F:
    """`friendly_errors`, plus registry mistakes and unique conflicts as one line (no traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return friendly_errors(func)(*args, **kwargs)
        except ValidationError as exc:
            raise click.ClickException(str(exc)) from None
        except IntegrityError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "constraint failed"
            raise click.ClickException(f"the change conflicts with a registered record ({first})") from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _conflicts_named(sessions: Any, describe: Callable[[Session], str | None]) -> Iterator[None]:
    """A unique-constraint race (someone registered the same thing between our check and our insert)
    becomes the sentence naming the record that won."""
    try:
        yield
    except IntegrityError:
        with sessions() as s:
            message = describe(s)
        if message is None:
            raise
        raise ValidationError(message) from None


def _list_or_note(rows: list[dict[str, Any]], as_json: bool, empty: str) -> bool:
    """Print `rows` as JSON, or `empty` when there are none; True when the caller prints them as a table."""
    if as_json:
        echo_json(rows)
        return False
    if not rows:
        click.echo(empty)
        return False
    return True


def _iso(t: datetime | None) -> str | None:
    return validate.as_utc(t).isoformat() if t is not None else None


def _customer(s: Session, login: str) -> Customer:
    return customers.find(s, login)


def _slot_json(slot: SimSlot, owner: str | None, whitelist: list[WhitelistEntry] | None = None, *,
               overdue: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "bank": slot.bank, "slot": slot.slot, "iccid": slot.iccid, "imsi": slot.imsi, "msisdn": slot.msisdn,
        "kind": slot.kind, "owner": owner, "enabled": slot.enabled, "port": slot.port,
        "pinned": slot.pinned, "last_online_at": _iso(slot.last_online_at), "overdue": overdue,
        "created_at": _iso(slot.created_at), "updated_at": _iso(slot.updated_at),
    }
    if whitelist is not None:
        data["whitelist"] = [_whitelist_json(w, slot.msisdn) for w in whitelist]
    return data


def _whitelist_json(entry: WhitelistEntry, msisdn: str) -> dict[str, Any]:
    return {"number": msisdn, "sender_name": entry.sender_name, "approved_by": entry.approved_by,
            "approved_at": _iso(entry.approved_at)}


def _customer_json(c: Customer, numbers: int) -> dict[str, Any]:
    return {"login": c.login, "name": c.name, "verified": c.verified, "enabled": c.enabled, "numbers": numbers,
            "mqtt_password": c.mqtt_password_hash is not None, "created_at": _iso(c.created_at)}


# ---- owner -------------------------------------------------------------------------------------------


@click.group()
def owner() -> None:
    """Customers: a login (also their MQTT user name), verification, MQTT password, forwarding."""


@owner.command("add")
@click.argument("login", metavar="LOGIN")
@click.option("--name", default=None,
              help=f"The customer's name (company or person), at most {CUSTOMER_NAME_MAX} characters.")
@click.option("--verified", is_flag=True, help="Their documents are checked already: they may own dedicated numbers.")
@json_option
@click.pass_obj
@registry_errors
def owner_add(obj: Context, login: str, name: str | None, verified: bool, as_json: bool) -> None:
    """Register customer LOGIN and print its new MQTT password (shown only this once).

    LOGIN is 2-32 characters from a-z, 0-9, '.', '_' and '-'; it names the customer's topic
    <prefix>/v1/owners/LOGIN/messages and starts the `LOGIN: text` prefix on shared numbers.
    """
    key = validate.login(login)
    sessions = obj.sessions()
    with _conflicts_named(sessions, lambda s: customers.duplicate(s, key)), sessions.begin() as s:
        customer, password = customers.add_customer(s, key, name, verified)
        name = customer.name
    _warn(push_customer(obj, key, password))
    if as_json:
        echo_json({"login": key, "name": name, "verified": verified, "mqtt_password": password})
        return
    state = "verified" if verified else f"not verified: `simhost owner verify {key}` once their documents are checked"
    click.echo(f"customer {key} added ({state})")
    click.echo(f"MQTT user {key}, password (shown only now): {password}")


@owner.command("list")
@json_option
@click.pass_obj
@registry_errors
def owner_list(obj: Context, as_json: bool) -> None:
    """List customers with their state and how many numbers they own."""
    with obj.sessions()() as s:
        counts = dict(s.execute(select(SimSlot.owner_id, func.count()).group_by(SimSlot.owner_id)).all())
        rows = [_customer_json(c, counts.get(c.id, 0)) for c in s.scalars(select(Customer).order_by(Customer.login))]
    if not _list_or_note(rows, as_json, "no customers registered (add one with `simhost owner add LOGIN`)"):
        return
    echo_table(("LOGIN", "VERIFIED", "STATE", "NUMBERS", "NAME"),
               [(r["login"], "yes" if r["verified"] else "no", "enabled" if r["enabled"] else "disabled",
                 r["numbers"], r["name"] or "") for r in rows], right=("NUMBERS",))


@owner.command("show")
@click.argument("login", metavar="LOGIN")
@json_option
@click.pass_obj
@registry_errors
def owner_show(obj: Context, login: str, as_json: bool) -> None:
    """Show customer LOGIN: state, forwarding and numbers."""
    with obj.sessions()() as s:
        c = _customer(s, login)
        slots = list(s.scalars(select(SimSlot).where(SimSlot.owner_id == c.id).order_by(SimSlot.msisdn)))
        data = _customer_json(c, len(slots))
        data["forwarding"] = {"email": c.email, "http_url": c.http_url,
                              "http_secret": "set" if c.http_secret else None, "smpp_system_id": c.smpp_system_id,
                              "smpp_password": "set" if c.smpp_password_hash else None,
                              "smpp_long_mode": (c.smpp_long_mode or "udh") if c.smpp_system_id else None,
                              "msisdn": c.forward_msisdn}
        data["numbers"] = [_slot_json(slot, c.login) for slot in slots]
    if as_json:
        echo_json(data)
        return
    click.echo(f"customer {data['login']}" + (f" ({data['name']})" if data["name"] else ""))
    click.echo(f"  verified: {'yes' if data['verified'] else 'no'}; "
               f"{'enabled' if data['enabled'] else 'disabled'}; "
               f"MQTT password {'set' if data['mqtt_password'] else 'not set'}; since {data['created_at']}")
    forwarding = [f"{k} {v}" for k, v in data["forwarding"].items() if v]
    click.echo(f"  forwarding: {', '.join(forwarding) if forwarding else 'none (MQTT only)'}")
    if not data["numbers"]:
        click.echo("  numbers: none")
    for n in data["numbers"]:
        click.echo(f"  {n['msisdn']:<16} {n['kind']:<15} bank {n['bank']} slot {n['slot']}"
                   f"{'' if n['enabled'] else ' (disabled)'}")


def _warn(warning: str | None) -> None:
    if warning:
        click.echo(warning, err=True)


def _customer_setter(name: str, field: str, value: bool, done: str, doc: str) -> click.Command:
    @owner.command(name)
    @click.argument("login", metavar="LOGIN")
    @click.pass_obj
    @registry_errors
    def command(obj: Context, login: str) -> None:
        with obj.sessions().begin() as s:
            c = _customer(s, login)
            changed = getattr(c, field) != value
            setattr(c, field, value)
            if changed:
                bump_version(s)
        if field == "enabled":
            _warn(push_customer(obj, c.login))
        click.echo(f"customer {c.login} {done}" if changed else f"customer {c.login} was {done} already")

    command.help = doc
    return command


_customer_setter("verify", "verified", True, "verified",
                 "Mark customer LOGIN verified (documents checked): it may now own dedicated numbers.")
_customer_setter("enable", "enabled", True, "enabled", "Enable customer LOGIN: its numbers receive again.")
_customer_setter("disable", "enabled", False, "disabled",
                 "Disable customer LOGIN: its messages are kept and published as rejected.")


@owner.command("password")
@click.argument("login", metavar="LOGIN")
@click.option("--web", is_flag=True,
              help="A web sign-in password of its own instead (without one, the customer signs in to the web with "
                   "its MQTT password).")
@json_option
@click.pass_obj
@registry_errors
def owner_password(obj: Context, login: str, web: bool, as_json: bool) -> None:
    """Give customer LOGIN a new MQTT password (or, with --web, web password) and print it (shown only this once).

    The broker learns an MQTT password when `simhost mqtt acl` writes its password file again, or at once
    from this command with SIMHOST_MQTT_DYNSEC=1 (Mosquitto's dynamic-security plugin; see `simhost mqtt sync`).
    """
    with obj.sessions().begin() as s:
        c = _customer(s, login)
        password = customers.new_password(s, c, web=web)
    if not web:
        _warn(push_customer(obj, c.login, password))
    what = "web" if web else "mqtt"
    if as_json:
        echo_json({"login": c.login, f"{what}_password": password})
        return
    if web:
        click.echo(f"customer {c.login}, new web password (shown only now): {password}")
        return
    click.echo(f"MQTT user {c.login}, new password (shown only now): {password}")
    click.echo("rewrite the broker's password file with `simhost mqtt acl` for it to take effect (with the "
               "dynamic-security plugin, SIMHOST_MQTT_DYNSEC=1 gives it to the broker at once)")


def keys_command(group: click.Group, holder: str, find: Callable[[Session, str], tuple[str, dict[str, int]]]) -> None:
    """`<group> apikey NAME [--revoke KEY_ID] [--list]` for a holder `find` looks up (its name and its id)."""

    @group.command("apikey")
    @click.argument("name", metavar="NAME")
    @click.option("--revoke", "revoke", default=None, metavar="KEY_ID", help="Revoke this key (its id, not the key).")
    @click.option("--list", "listing", is_flag=True, help="List the keys: id, created, last used, revoked.")
    @json_option
    @click.pass_obj
    @registry_errors
    def command(obj: Context, name: str, revoke: str | None, listing: bool, as_json: bool) -> None:
        if revoke is not None and listing:
            raise ValidationError("give --revoke or --list, not both")
        with obj.sessions().begin() as s:
            shown_name, holder_id = find(s, name)
            if listing:
                rows = [{"key_id": k.key_id, "created_at": _iso(k.created_at), "last_used_at": _iso(k.last_used_at),
                         "revoked_at": _iso(k.revoked_at)} for k in apikeys.list_keys(s, **holder_id)]
            elif revoke is not None:
                apikeys.revoke_key(s, revoke, **holder_id)
            else:
                row, key = apikeys.create_key(s, **holder_id)
        if listing:
            if _list_or_note(rows, as_json, f"{holder} {shown_name} has no API keys"):
                echo_table(("KEY ID", "CREATED", "LAST USED", "REVOKED"),
                           [(r["key_id"], r["created_at"], r["last_used_at"], r["revoked_at"]) for r in rows])
        elif revoke is not None:
            click.echo(f"API key {revoke.strip()} of {holder} {shown_name} revoked")
        elif as_json:
            echo_json({holder: shown_name, "key_id": row.key_id, "api_key": key})
        else:
            click.echo(f"API key {row.key_id} of {holder} {shown_name} (shown only now): {key}")

    command.help = (f"Make an API key for {holder} NAME and print it (shown only this once); or revoke one, or list "
                    "them. Requests carry it as `Authorization: Bearer KEY`.")


def _customer_holder(s: Session, login: str) -> tuple[str, dict[str, int]]:
    c = _customer(s, login)
    return c.login, {"customer_id": c.id}


keys_command(owner, "customer", _customer_holder)


@owner.command("forward")
@click.argument("login", metavar="LOGIN")
@click.option("--email", default=None,
              help=f"E-mail address(es), comma-separated, each at most {EMAIL_MAX} and all together at most "
                   f"{EMAILS_MAX} characters ('' clears).")
@click.option("--http-url", default=None,
              help=f"HTTP(S) endpoint messages are POSTed to, at most {HTTP_URL_MAX} characters ('' clears). "
                   "A signing secret is made and printed when the customer has none.")
@click.option("--http-secret", default=None,
              help=f"The webhook signing secret to use, {HTTP_SECRET_MIN} to {HTTP_SECRET_MAX} characters "
                   "(instead of a generated one).")
@click.option("--rotate-http-secret", is_flag=True,
              help="Make a new signing secret and print it; the old one stays valid (both signatures are sent) "
                   "for 24 hours.")
@click.option("--smpp-system-id", default=None,
              help=f"SMPP account the customer binds with, at most {SMPP_SYSTEM_ID_MAX} characters ('' clears).")
@click.option("--smpp-password", default=None,
              help=f"The SMPP password, {SMPP_PASSWORD_MIN} to {SMPP_PASSWORD_MAX} printable ASCII characters "
                   "(SMPP 3.4 allows no more); one is made and printed when the account has none.")
@click.option("--smpp-long-mode", type=click.Choice(LONG_MODES), default=None,
              help="How long messages reach the customer over SMPP: udh (concatenated parts, esm_class 0x40; the "
                   "default) or payload (one deliver_sm with message_payload).")
@click.option("--msisdn", default=None, help="Phone number each message is forwarded to as an SMS ('' clears).")
@click.pass_obj
@registry_errors
def owner_forward(obj: Context, login: str, email: str | None, http_url: str | None, http_secret: str | None,
                  rotate_http_secret: bool, smpp_system_id: str | None, smpp_password: str | None,
                  smpp_long_mode: str | None, msisdn: str | None) -> None:
    """Set where customer LOGIN's messages are forwarded besides its MQTT topic.

    Webhook requests are signed with the customer's secret (header X-Simhost-Signature); a secret is shown
    only when it is made.
    """
    change = forwarding.check(region=obj.settings.region, email=email, http_url=http_url, http_secret=http_secret,
                              rotate_http_secret=rotate_http_secret, smpp_system_id=smpp_system_id,
                              smpp_password=smpp_password, smpp_long_mode=smpp_long_mode, msisdn=msisdn)
    if change.empty:
        raise ValidationError("nothing to change: give --email, --http-url, --http-secret, --rotate-http-secret, "
                              "--smpp-system-id, --smpp-password, --smpp-long-mode or --msisdn")
    with obj.sessions().begin() as s:
        c = _customer(s, login)
        made = forwarding.apply(s, c, change, datetime.now(UTC))
        bump_version(s)
    changes = change.fields
    shown_changes = [f"{k} {v or '(none)'}" for k, v in changes.items()]
    if http_secret is not None:
        shown_changes.append("http_secret set")
    if smpp_password is not None:
        shown_changes.append("smpp_password set")
    if shown_changes:
        click.echo(f"customer {c.login} forwarding: " + ", ".join(shown_changes))
    if made.http_secret is not None:
        click.echo(f"webhook signing secret (shown only now): {made.http_secret}")
        if rotate_http_secret:
            click.echo("the previous secret stays valid for 24 hours: requests carry both signatures until then")
    if made.smpp_password is not None:
        click.echo(f"SMPP password (shown only now): {made.smpp_password}")


# ---- slot --------------------------------------------------------------------------------------------


@click.group()
def slot() -> None:
    """SIM slots: where each SIM sits, its ICCID, its number (MSISDN), the number's kind and owner.

    NUMBER is an MSISDN in any form the default region reads, or an ICCID.
    """


@slot.command("add")
@click.option("--bank", type=click.IntRange(min=0), required=True, help="SIM bank number.")
@click.option("--slot", "slot_no", type=click.IntRange(min=0), required=True, help="Slot in the bank.")
@click.option("--iccid", required=True, help="The SIM's ICCID (19 or 20 digits, Luhn-checked).")
@click.option("--msisdn", required=True, help="The SIM's phone number, in any form the default region reads.")
@click.option("--kind", required=True, metavar="KIND", help=f"One of {', '.join(NUMBER_KINDS)}.")
@click.option("--owner", "owner_login", default=None, metavar="LOGIN",
              help="Owner of a dedicated number (a verified customer); shared numbers have none.")
@click.option("--port", "port_name", default=None, metavar="NAME", help="The registered port that holds the SIM.")
@click.option("--imsi", default=None, help="The SIM's IMSI, if known.")
@click.pass_obj
@registry_errors
def slot_add(obj: Context, bank: int, slot_no: int, iccid: str, msisdn: str, kind: str, owner_login: str | None,
             port_name: str | None, imsi: str | None) -> None:
    """Register the SIM in bank N slot K with its ICCID, number and kind."""
    region = obj.settings.region
    sessions = obj.sessions()

    def clash(s: Session) -> str | None:
        return slots.conflict(s, bank, slot_no, validate.iccid(iccid), validate.msisdn(msisdn, region))

    with _conflicts_named(sessions, clash), sessions.begin() as s:
        made = slots.add_slot(s, bank=bank, slot=slot_no, iccid=iccid, msisdn=msisdn, kind=kind, region=region,
                              owner=owner_login, port=port_name, imsi=imsi)
        row = made.row
    whose = f" of {made.owner}" if made.owner else ""
    click.echo(f"bank {bank} slot {slot_no}: {row.msisdn} ICCID {row.iccid} {row.kind}{whose}"
               + (f" on port {port_name}" if port_name else "") + " registered")
    if made.note:
        click.echo(f"note: {made.note}", err=True)
    if made.warning:
        click.echo(f"warning: {made.warning}", err=True)


@slot.command("list")
@click.option("--kind", "kind_filter", default=None, metavar="KIND", help="Only numbers of this kind.")
@click.option("--owner", "owner_login", default=None, metavar="LOGIN", help="Only numbers of this customer.")
@json_option
@click.pass_obj
@registry_errors
def slot_list(obj: Context, kind_filter: str | None, owner_login: str | None, as_json: bool) -> None:
    """List SIM slots with their numbers, kinds and owners."""
    with obj.sessions()() as s:
        query = (select(SimSlot, Customer.login).outerjoin(Customer, SimSlot.owner_id == Customer.id)
                 .order_by(SimSlot.bank, SimSlot.slot))
        if kind_filter is not None:
            query = query.where(SimSlot.kind == validate.kind(kind_filter))
        if owner_login is not None:
            query = query.where(SimSlot.owner_id == _customer(s, owner_login).id)
        found = list(s.execute(query))
        late = overdue_slots(s, obj.settings, datetime.now(UTC))
        rows = [_slot_json(slot_row, login, overdue=slot_row.id in late) for slot_row, login in found]
    if not _list_or_note(rows, as_json, "no SIM slots registered (add one with `simhost slot add`)"):
        return
    echo_table(("BANK", "SLOT", "MSISDN", "ICCID", "KIND", "OWNER", "PORT", "STATE", "LAST ONLINE", "ROTATION"),
               [(r["bank"], r["slot"], r["msisdn"], r["iccid"], r["kind"], r["owner"], r["port"],
                 "enabled" if r["enabled"] else "disabled", _minute(r["last_online_at"]),
                 ", ".join(word for word, on in (("pinned", r["pinned"]), ("overdue", r["overdue"])) if on) or None)
                for r in rows], right=("BANK", "SLOT"))


def _minute(iso: str | None) -> str | None:
    """An ISO 8601 time to the minute, for a table (`--json` has it whole)."""
    return None if iso is None else iso[:16].replace("T", " ")


@slot.command("show")
@click.argument("number", metavar="NUMBER")
@json_option
@click.pass_obj
@registry_errors
def slot_show(obj: Context, number: str, as_json: bool) -> None:
    """Show the SIM slot of NUMBER, with its whitelist."""
    with obj.sessions()() as s:
        row = _find_slot(s, number, obj.settings.region)
        login = s.scalar(select(Customer.login).where(Customer.id == row.owner_id)) if row.owner_id else None
        whitelist = list(s.scalars(select(WhitelistEntry).where(WhitelistEntry.slot_id == row.id)
                                   .order_by(WhitelistEntry.sender_key)))
        data = _slot_json(row, login, whitelist)
    if as_json:
        echo_json(data)
        return
    click.echo(f"{data['msisdn']}: {data['kind']}{' of ' + data['owner'] if data['owner'] else ''}, "
               f"{'enabled' if data['enabled'] else 'disabled'}")
    click.echo(f"  bank {data['bank']} slot {data['slot']}, ICCID {data['iccid']}"
               + (f", IMSI {data['imsi']}" if data["imsi"] else "") + f", port {data['port'] or '-'}"
               + (", pinned" if data["pinned"] else ""))
    click.echo(f"  last online: {data['last_online_at'] or 'never seen by the rotation'}")
    if data["kind"] == "hosted-company":
        names = ", ".join(w["sender_name"] for w in data["whitelist"])
        click.echo(f"  whitelist: {names or 'empty (every alphanumeric sender is rejected)'}")


def _slot_setter(name: str, flag: str, value: bool, state: str, doc: str) -> click.Command:
    """`simhost slot NAME NUMBER`: sets the slot's `flag` column to `value` (`state` says so); `enabled` is a
    registry change routers reload, `pinned` only the gateway's rotation reads."""
    @slot.command(name)
    @click.argument("number", metavar="NUMBER")
    @click.pass_obj
    @registry_errors
    def command(obj: Context, number: str) -> None:
        with obj.sessions().begin() as s:
            row = _find_slot(s, number, obj.settings.region)
            if flag == "enabled":
                changed = slots.set_enabled(s, row, value)
            else:
                changed = getattr(row, flag) != value
                setattr(row, flag, value)
        click.echo(f"{_label(row)} {state}" if changed else f"{_label(row)} was {state} already")
        if flag == "pinned" and value and row.port is None:
            click.echo(f"note: {_label(row)} has no port (`simhost slot add ... --port NAME`): no rotation moves it",
                       err=True)

    command.help = doc
    return command


_slot_setter("pin", "pinned", True, "pinned", "Pin NUMBER: the rotation brings its slot online and never switches "
             "its port away from it (e.g. while a customer waits for a code).")
_slot_setter("unpin", "pinned", False, "not pinned", "Unpin NUMBER: its port rotates through its slots again.")
_slot_setter("enable", "enabled", True, "enabled", "Enable NUMBER: its messages are routed again.")
_slot_setter("disable", "enabled", False, "disabled", "Disable NUMBER (e.g. a violation of the terms): its messages "
             "are kept and published as rejected.")


@slot.command("assign")
@click.argument("number", metavar="NUMBER")
@click.option("--owner", "owner_login", required=True, metavar="LOGIN", help="The verified customer to own it.")
@click.pass_obj
@registry_errors
def slot_assign(obj: Context, number: str, owner_login: str) -> None:
    """Give the dedicated number NUMBER to customer LOGIN."""
    with obj.sessions().begin() as s:
        row = _find_slot(s, number, obj.settings.region)
        customer, before = slots.assign(s, row, owner_login)
    click.echo(f"{row.msisdn} ({row.kind}, bank {row.bank} slot {row.slot}) now belongs to {customer.login}"
               + (f" (was {before})" if before and before != customer.login else ""))
