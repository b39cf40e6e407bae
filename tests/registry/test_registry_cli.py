"""The field engineers' registry commands (`owner`, `slot`, `whitelist`, `sent`, `inbox`, `status`) on SQLite,
one round trip on PostgreSQL, and the directory snapshot the router loads from what they registered."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert, select, text

from simhost.cli import main
from simhost.db import make_engine, make_sessions, upgrade
from simhost.models import InboundPart, OutboxMessage, Port
from simhost.registry import validate
from simhost.registry.models import Customer, RoutedMessage, SentLog, SimSlot, current_version
from simhost.registry.snapshot import load_directory, record_send
from simhost.registry.validate import ValidationError
from simhost.security.mqttauth import check_password

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def make_iccid(n: int) -> str:
    body = f"8970199{n:012d}"
    return body + validate.luhn_check_digit(body)


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards; skips when the server is not there."""
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}")
    name = f"simhost_registry_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


class Cli:
    """Runs `simhost --db URL --region RU ...` in-process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def invoke(self, *args: str) -> Result:
        return self.runner.invoke(main, ["--db", self.url, "--region", "RU", *args])

    def ok(self, *args: str) -> str:
        result = self.invoke(*args)
        assert result.exit_code == 0, f"simhost {' '.join(args)}: {result.output}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def fails(self, *args: str) -> str:
        """The one-line reason on stderr of a command that must fail (non-zero, no traceback)."""
        result = self.invoke(*args)
        assert result.exit_code != 0, f"simhost {' '.join(args)} succeeded: {result.output}"
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        return lines[0]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    url = f"sqlite:///{tmp_path}/simhost.db"
    upgrade(url)
    return Cli(url)


def sessions(url: str) -> Any:
    return make_sessions(make_engine(url))


def register_site(cli: Cli) -> dict[str, str]:
    """Two verified customers and one unverified, a number of every kind; returns the numbers by kind."""
    for login in ("acme", "beta", "gamma"):
        cli.ok("owner", "add", login, "--name", login.title())
    cli.ok("owner", "verify", "acme")
    cli.ok("owner", "verify", "beta")
    numbers = {"shared": "+79000000001", "virtual": "+79000000002", "hosted-company": "+79000000003",
               "hosted-client": "+79000000004"}
    owners = {"virtual": "acme", "hosted-company": "beta", "hosted-client": "acme"}
    for i, (kind, msisdn) in enumerate(numbers.items(), start=1):
        extra = ["--owner", owners[kind]] if kind in owners else []
        cli.ok("slot", "add", "--bank", "1", "--slot", str(i), "--iccid", make_iccid(i), "--msisdn", msisdn,
               "--kind", kind, *extra)
    return numbers


# ---- owner -------------------------------------------------------------------------------------------


def test_owner_add_prints_a_password_once_and_stores_its_hash(cli: Cli) -> None:
    out = cli.ok("owner", "add", "Acme", "--name", "Acme Ltd")
    assert "customer acme added (not verified" in out
    password = out.strip().splitlines()[-1].rsplit(" ", 1)[1]
    with sessions(cli.url)() as s:
        c = s.scalar(select(Customer).where(Customer.login == "acme"))
        assert c is not None
        assert c.mqtt_password_hash is not None
        assert c.mqtt_password_hash.startswith("$7$")
        assert check_password(password, c.mqtt_password_hash)
        assert (c.name, c.verified, c.enabled) == ("Acme Ltd", False, True)
    data = cli.json("owner", "add", "beta", "--verified")
    assert data["verified"] is True
    assert len(data["mqtt_password"]) >= 16

    assert cli.fails("owner", "add", "ACME") == \
        "Error: customer 'acme' is already registered (see `simhost owner show acme`)"
    assert "login 'a b' is not valid" in cli.fails("owner", "add", "a b")
    assert "login 'router' is reserved" in cli.fails("owner", "add", "Router")


def test_owner_list_show_flags_password_and_forwarding(cli: Cli) -> None:
    cli.ok("owner", "add", "acme")
    cli.ok("owner", "add", "beta", "--name", "Beta Bank")
    rows = cli.json("owner", "list")
    assert [(r["login"], r["verified"], r["enabled"], r["numbers"]) for r in rows] == \
        [("acme", False, True, 0), ("beta", False, True, 0)]
    assert "beta" in cli.ok("owner", "list")
    assert "Beta Bank" in cli.ok("owner", "list")

    assert cli.ok("owner", "verify", "ACME").strip() == "customer acme verified"
    assert cli.ok("owner", "verify", "acme").strip() == "customer acme was verified already"
    assert cli.ok("owner", "disable", "acme").strip() == "customer acme disabled"
    shown = cli.json("owner", "show", "acme")
    assert (shown["verified"], shown["enabled"], shown["numbers"]) == (True, False, [])
    cli.ok("owner", "enable", "acme")
    assert cli.json("owner", "show", "acme")["enabled"] is True

    with sessions(cli.url)() as s:
        before = s.scalar(select(Customer.mqtt_password_hash).where(Customer.login == "acme"))
    new = cli.json("owner", "password", "acme")["mqtt_password"]
    with sessions(cli.url)() as s:
        after = s.scalar(select(Customer.mqtt_password_hash).where(Customer.login == "acme"))
    assert after != before
    assert after is not None
    assert check_password(new, after)

    cli.ok("owner", "forward", "acme", "--email", "ops@acme.test", "--http-url", "https://acme.test/sms",
           "--msisdn", "8 916 123-45-67")
    assert cli.json("owner", "show", "acme")["forwarding"] == {
        "email": "ops@acme.test", "http_url": "https://acme.test/sms", "http_secret": "set", "smpp_system_id": None,
        "smpp_password": None, "smpp_long_mode": None, "msisdn": "+79161234567"}
    assert "not an http:// or https:// URL" in cli.fails("owner", "forward", "acme", "--http-url", "ftp://x")

    for command in ("show", "verify", "enable", "disable", "password"):
        assert cli.fails("owner", command, "nobody") == \
            "Error: no customer with login 'nobody' (see `simhost owner list`)"


# ---- slot --------------------------------------------------------------------------------------------


def test_slot_add_every_kind_and_list(cli: Cli) -> None:
    numbers = register_site(cli)
    rows = cli.json("slot", "list")
    assert [(r["msisdn"], r["kind"], r["owner"], r["bank"], r["slot"]) for r in rows] == [
        (numbers["shared"], "shared", None, 1, 1), (numbers["virtual"], "virtual", "acme", 1, 2),
        (numbers["hosted-company"], "hosted-company", "beta", 1, 3),
        (numbers["hosted-client"], "hosted-client", "acme", 1, 4)]
    assert rows[1]["iccid"] == make_iccid(2)
    assert [r["msisdn"] for r in cli.json("slot", "list", "--owner", "acme")] == \
        [numbers["virtual"], numbers["hosted-client"]]
    assert [r["kind"] for r in cli.json("slot", "list", "--kind", "shared")] == ["shared"]
    assert cli.json("owner", "list")[0]["numbers"] == 2
    assert "+79000000003" in cli.ok("slot", "list")


def test_slot_add_rejects_bad_input_with_one_sentence(cli: Cli) -> None:
    register_site(cli)

    def add(*, bank: int = 2, slot: int = 1, iccid: str = make_iccid(50), msisdn: str = "+79000000050",
            kind: str = "virtual", owner: str | None = "acme", port: str | None = None) -> str:
        extra = (["--owner", owner] if owner else []) + (["--port", port] if port else [])
        return cli.fails("slot", "add", "--bank", str(bank), "--slot", str(slot), "--iccid", iccid,
                         "--msisdn", msisdn, "--kind", kind, *extra)

    assert "'+7 ABC' is not a phone number" in add(msisdn="+7 ABC")
    bad_luhn = make_iccid(50)[:-1] + str((int(make_iccid(50)[-1]) + 1) % 10)
    assert "fails the Luhn check" in add(iccid=bad_luhn)
    assert "it has 18 digits, an ICCID has 19 or 20" in add(iccid=make_iccid(50)[:18])
    assert "kind 'dedicated' is not one of shared, virtual, hosted-company, hosted-client" in add(kind="dedicated")
    assert add(owner="gamma") == ("Error: customer 'gamma' is not verified: only verified customers may own "
                                  "virtual numbers (`simhost owner verify gamma` once their documents are checked)")
    assert "customer 'gamma' is not verified" in add(kind="hosted-client", owner="gamma")
    assert add(owner="nobody") == "Error: no customer with login 'nobody' (see `simhost owner list`)"
    assert "a shared number has no owner" in add(kind="shared")
    assert add(port="port99") == "Error: no port named 'port99' (see `simhost port list`)"
    # duplicates name the record they clash with
    assert add(iccid=make_iccid(2)) == \
        f"Error: ICCID {make_iccid(2)} is already registered to bank 1 slot 2 (+79000000002)"
    assert add(msisdn="8 900 000-00-02") == \
        f"Error: MSISDN +79000000002 is already registered to bank 1 slot 2 (ICCID {make_iccid(2)})"
    assert add(bank=1, slot=3) == f"Error: bank 1 slot 3 already holds ICCID {make_iccid(3)} (+79000000003)"
    assert len(cli.json("slot", "list")) == 4


def test_slot_add_unowned_dedicated_and_live_iccid_warning(cli: Cli) -> None:
    cli.ok("port", "add", "port01", "--url", "/dev/simhost/port01")
    with sessions(cli.url).begin() as s:
        s.add(InboundPart(id="p1", port="port01", iccid=make_iccid(7), pdu="00", received_at=datetime.now(UTC)))
    result = cli.invoke("slot", "add", "--bank", "1", "--slot", "1", "--iccid", make_iccid(8), "--msisdn",
                        "+79000000008", "--kind", "virtual", "--port", "port01")
    assert result.exit_code == 0, result.output
    assert "note: +79000000008 has no owner yet" in result.stderr
    assert f"ICCID {make_iccid(7)}, not {make_iccid(8)}" in result.stderr
    result = cli.invoke("slot", "add", "--bank", "1", "--slot", "2", "--iccid", make_iccid(7), "--msisdn",
                        "+79000000007", "--kind", "shared", "--port", "port01")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert cli.json("slot", "show", "+79000000007")["port"] == "port01"


def test_slot_show_enable_disable_assign_by_any_number_form(cli: Cli) -> None:
    numbers = register_site(cli)
    shown = cli.json("slot", "show", "8 (900) 000-00-03")
    assert (shown["msisdn"], shown["kind"], shown["owner"], shown["whitelist"]) == \
        (numbers["hosted-company"], "hosted-company", "beta", [])
    assert cli.json("slot", "show", make_iccid(2))["msisdn"] == numbers["virtual"]
    assert cli.fails("slot", "show", "+79000000099") == \
        "Error: no SIM slot has number +79000000099 (see `simhost slot list`)"
    assert cli.fails("slot", "show", make_iccid(99)) == \
        f"Error: no SIM slot has ICCID {make_iccid(99)} (see `simhost slot list`)"
    assert "is not a phone number" in cli.fails("slot", "show", "nonsense")

    assert "disabled" in cli.ok("slot", "disable", "89000000002")
    assert cli.json("slot", "show", numbers["virtual"])["enabled"] is False
    assert "was disabled already" in cli.ok("slot", "disable", numbers["virtual"])
    cli.ok("slot", "enable", make_iccid(2))
    assert cli.json("slot", "show", numbers["virtual"])["enabled"] is True

    assert "now belongs to beta (was acme)" in cli.ok("slot", "assign", numbers["virtual"], "--owner", "beta")
    assert cli.json("slot", "show", numbers["virtual"])["owner"] == "beta"
    assert "is a shared number: shared numbers have no owner" in \
        cli.fails("slot", "assign", numbers["shared"], "--owner", "acme")
    assert "customer 'gamma' is not verified" in cli.fails("slot", "assign", numbers["virtual"], "--owner", "gamma")
    assert "no customer with login 'zed'" in cli.fails("slot", "assign", numbers["virtual"], "--owner", "zed")


# ---- whitelist, sent ---------------------------------------------------------------------------------


def test_whitelist_only_on_hosted_company_numbers(cli: Cli) -> None:
    numbers = register_site(cli)
    company = numbers["hosted-company"]
    assert "Sberbank approved on +79000000003 (bank 1 slot 3) by ivan" in \
        cli.ok("whitelist", "add", "89000000003", "Sberbank", "--by", "ivan")
    cli.ok("whitelist", "add", make_iccid(3), "VK")
    error = cli.fails("whitelist", "add", company, "SBERBANK")
    assert error.startswith("Error: 'Sberbank' is already on the whitelist of +79000000003 (approved by ivan at ")
    for kind, why in (("virtual", "rejects"), ("shared", "rejects"), ("hosted-client", "accepts")):
        assert cli.fails("whitelist", "add", numbers[kind], "VK") == (
            f"Error: {numbers[kind]} (bank 1 slot {list(numbers).index(kind) + 1}) is a {kind} number: only "
            f"hosted-company numbers have a sender whitelist (it {why} every alphanumeric sender)")
    assert "at most 11" in cli.fails("whitelist", "add", company, "AVeryLongSenderName")

    rows = cli.json("whitelist", "list", company)
    assert next((r["number"], r["sender_name"], r["approved_by"]) for r in rows) == (company, "Sberbank", "ivan")
    assert [r["sender_name"] for r in cli.json("whitelist", "list")] == ["Sberbank", "VK"]
    assert [w["sender_name"] for w in cli.json("slot", "show", company)["whitelist"]] == ["Sberbank", "VK"]
    assert cli.json("whitelist", "list", numbers["virtual"]) == []

    assert "VK removed" in cli.ok("whitelist", "remove", company, "vk")
    assert cli.fails("whitelist", "remove", company, "vk") == \
        "Error: 'vk' is not on the whitelist of +79000000003 (see `simhost whitelist list +79000000003`)"
    assert [r["sender_name"] for r in cli.json("whitelist", "list")] == ["Sberbank"]


def test_sent_record_normalises_and_validates(cli: Cli) -> None:
    numbers = register_site(cli)
    out = cli.ok("sent", "record", "--from", "89000000001", "--to", "8 916 000-00-01", "--owner", "ACME",
                 "--at", "2026-01-31T18:05:00+03:00")
    assert out.strip() == "send recorded: acme to +79160000001 from +79000000001 at 2026-01-31T15:05:00+00:00"
    cli.ok("sent", "record", "--from", "Sberbank", "--to", "+79160000002", "--owner", "beta")
    with sessions(cli.url)() as s:
        rows = s.execute(select(SentLog.from_number, SentLog.to_subscriber, SentLog.source, SentLog.at)
                         .order_by(SentLog.id)).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [(numbers["shared"], "+79160000001", "cli"),
                                                  ("Sberbank", "+79160000002", "cli")]
    assert validate.as_utc(rows[0][3]) == datetime(2026, 1, 31, 15, 5, tzinfo=UTC)
    assert "no customer with login 'zed'" in cli.fails("sent", "record", "--from", "1", "--to", "+79160000001",
                                                       "--owner", "zed")
    assert "'12' is not a phone number" in cli.fails("sent", "record", "--from", "Sberbank", "--to", "12",
                                                     "--owner", "acme")
    assert "'soon' is not an ISO 8601 time" in cli.fails("sent", "record", "--from", "Sberbank", "--to",
                                                         "+79160000001", "--owner", "acme", "--at", "soon")


def test_record_send_api_checks_owner_and_subscriber(cli: Cli) -> None:
    register_site(cli)
    now = datetime.now(UTC)
    with sessions(cli.url).begin() as s:
        row = record_send(s, "VK", "9160000003", "Beta", now, "mqtt", "RU")
        assert (row.to_subscriber, row.from_number, row.source) == ("+79160000003", "VK", "mqtt")
        with pytest.raises(ValidationError, match="no customer with login 'nobody'"):
            record_send(s, "VK", "+79160000003", "nobody", now, "mqtt", "RU")
        with pytest.raises(ValidationError, match="is not a phone number"):
            record_send(s, "VK", "hello", "beta", now, "mqtt", "RU")


# ---- inbox, status, directory ------------------------------------------------------------------------


def add_messages(url: str) -> None:
    now = datetime.now(UTC)
    rows = [("m1", "routed", "acme", None, "hi acme", now - timedelta(minutes=3)),
            ("m2", "unrouted", None, "no-match", "who is this", now - timedelta(minutes=2)),
            ("m3", "rejected", None, "alphanumeric-rejected", "promo", now - timedelta(minutes=1)),
            ("m4", "routed", "beta", None, "old news", now - timedelta(days=3))]
    with sessions(url).begin() as s:
        for mid, status, owner, code, text, at in rows:
            s.add(RoutedMessage(id=mid, kind="sms", status=status, owner=owner, number="+79000000001",
                                number_kind="shared", sender="+79160000001", rule="prefix" if owner else None,
                                reason_code=code, reason=code, text=text, received_at=at, routed_at=at,
                                topic="t", payload="{}"))
        s.add_all([OutboxMessage(id="o1", port="port01", kind="sms", topic="t", payload="{}"),
                   OutboxMessage(id="o2", port="port01", kind="sms", topic="t", payload="{}", published_at=now)])
        s.add(Port(name="port01", url="/dev/null", enabled=True))


def test_inbox_filters_and_json(cli: Cli) -> None:
    register_site(cli)
    add_messages(cli.url)
    assert [m["id"] for m in cli.json("inbox")] == ["m3", "m2", "m1", "m4"]
    assert [m["id"] for m in cli.json("inbox", "--owner", "ACME")] == ["m1"]
    assert [(m["id"], m["reason_code"]) for m in cli.json("inbox", "--unrouted")] == \
        [("m3", "alphanumeric-rejected"), ("m2", "no-match")]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert [m["id"] for m in cli.json("inbox", "--since", since, "--limit", "2")] == ["m3", "m2"]
    m1 = cli.json("inbox", "--owner", "acme")[0]
    assert (m1["text"], m1["status"], m1["number"], m1["sender"]) == \
        ("hi acme", "routed", "+79000000001", "+79160000001")
    assert "hi acme" in cli.ok("inbox")
    assert "no customer with login 'zed'" in cli.fails("inbox", "--owner", "zed")
    assert "not an ISO 8601 time" in cli.fails("inbox", "--since", "last week")


def test_status_counts(cli: Cli) -> None:
    register_site(cli)
    cli.ok("owner", "disable", "gamma")
    cli.ok("slot", "disable", "+79000000001")
    add_messages(cli.url)
    data = cli.json("status")
    assert data["customers"] == {"total": 3, "verified": 2, "disabled": 1}
    assert data["slots"] == {"total": 4, "disabled": 1, "by_kind": {"shared": 1, "virtual": 1,
                                                                    "hosted-company": 1, "hosted-client": 1}}
    assert data["ports"] == {"total": 1, "enabled": 1}
    assert data["messages_24h"] == {"routed": 1, "unrouted": 1, "rejected": 1}
    assert data["outbox_pending"] == 1
    assert data["registry_version"] > 0
    assert "1 routed, 1 unrouted, 1 rejected" in cli.ok("status")


def test_every_change_bumps_the_registry_version_and_reads_do_not(cli: Cli) -> None:
    def version() -> int:
        with sessions(cli.url)() as s:
            return current_version(s)

    assert version() == 0
    cli.ok("owner", "add", "acme")
    cli.ok("owner", "verify", "acme")
    assert version() == 2
    cli.ok("owner", "list")
    cli.ok("status")
    assert version() == 2
    cli.fails("owner", "add", "acme")
    assert version() == 2  # a refused change bumps nothing
    cli.ok("slot", "add", "--bank", "1", "--slot", "1", "--iccid", make_iccid(1), "--msisdn", "+79000000001",
           "--kind", "hosted-company", "--owner", "acme")
    cli.ok("whitelist", "add", "+79000000001", "VK")
    cli.ok("whitelist", "remove", "+79000000001", "VK")
    cli.ok("slot", "disable", "+79000000001")
    assert version() == 6


def test_load_directory_returns_what_was_registered(cli: Cli) -> None:
    numbers = register_site(cli)
    cli.ok("owner", "disable", "gamma")
    cli.ok("slot", "disable", numbers["hosted-client"])
    cli.ok("whitelist", "add", numbers["hosted-company"], "SberBank")
    cli.ok("sent", "record", "--from", numbers["shared"], "--to", "+79160000001", "--owner", "acme")
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    cli.ok("sent", "record", "--from", numbers["shared"], "--to", "+79160000002", "--owner", "beta", "--at", old)
    with sessions(cli.url)() as s:
        d = load_directory(s)
    assert {(c.login, c.enabled, c.verified) for c in d.customers.values()} == \
        {("acme", True, True), ("beta", True, True), ("gamma", False, False)}
    assert d.customer("ACME") is not None
    company = d.numbers[numbers["hosted-company"]]
    assert (company.kind, company.owner, company.enabled, company.whitelist, company.iccid) == \
        ("hosted-company", "beta", True, frozenset({"sberbank"}), make_iccid(3))
    assert d.numbers[numbers["shared"]].owner is None
    assert d.numbers[numbers["hosted-client"]].enabled is False
    assert d.number(None, make_iccid(2)) == d.numbers[numbers["virtual"]]
    send = d.last_send("+79160000001", datetime.now(UTC))
    assert send is not None
    assert send.owner == "acme"
    assert send.at.tzinfo is not None
    assert d.last_send("+79160000002", datetime.now(UTC)) is None  # older than the 30 days loaded


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (["owner"], ["owner", "add"], ["owner", "list"], ["owner", "show"], ["owner", "verify"],
                 ["owner", "enable"], ["owner", "disable"], ["owner", "password"], ["owner", "forward"],
                 ["slot"], ["slot", "add"], ["slot", "list"], ["slot", "show"], ["slot", "enable"],
                 ["slot", "disable"], ["slot", "assign"], ["whitelist", "add"], ["whitelist", "remove"],
                 ["whitelist", "list"], ["sent", "record"], ["inbox"], ["status"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output
        assert len(result.output.splitlines()) > 3


# ---- PostgreSQL ----------------------------------------------------------------------------------------


def test_round_trip_on_postgresql() -> None:
    with fresh_pg_database() as url:
        upgrade(url)
        cli = Cli(url)
        numbers = register_site(cli)
        cli.ok("whitelist", "add", numbers["hosted-company"], "Sberbank")
        cli.ok("sent", "record", "--from", numbers["shared"], "--to", "+79160000001", "--owner", "beta",
               "--at", "2026-01-31T18:05:00+03:00")
        assert cli.fails("slot", "add", "--bank", "9", "--slot", "9", "--iccid", make_iccid(2), "--msisdn",
                         "+79000000090", "--kind", "shared") == \
            f"Error: ICCID {make_iccid(2)} is already registered to bank 1 slot 2 (+79000000002)"
        assert cli.json("slot", "show", numbers["hosted-company"])["whitelist"][0]["sender_name"] == "Sberbank"
        add_messages(url)
        assert cli.json("status")["messages_24h"] == {"routed": 1, "unrouted": 1, "rejected": 1}
        assert [m["id"] for m in cli.json("inbox", "--unrouted")] == ["m3", "m2"]
        engine = make_engine(url)
        try:
            with make_sessions(engine)() as s:
                d = load_directory(s, now=datetime(2026, 2, 1, tzinfo=UTC))
                assert current_version(s) > 0
            assert d.numbers[numbers["hosted-company"]].whitelist == frozenset({"sberbank"})
            send = d.last_send("+79160000001", datetime(2026, 2, 1, tzinfo=UTC))
            assert send is not None
            assert send.owner == "beta"
            assert send.at == datetime(2026, 1, 31, 15, 5, tzinfo=UTC)
        finally:
            engine.dispose()


def test_a_concurrent_registration_is_named_not_a_traceback_on_postgresql() -> None:
    """Two engineers add the same SIM at once: the one whose insert loses the race is told who won."""
    with fresh_pg_database() as url:
        upgrade(url)
        cli = Cli(url)
        cli.ok("owner", "add", "acme", "--verified")
        engine = make_engine(url)
        results: list[Result] = []
        worker = threading.Thread(target=lambda: results.append(cli.invoke(
            "slot", "add", "--bank", "2", "--slot", "5", "--iccid", make_iccid(1), "--msisdn", "+79000000077",
            "--kind", "shared")))
        try:
            with engine.connect() as other, engine.connect() as watcher:
                other.execute(insert(SimSlot).values(bank=1, slot=1, iccid=make_iccid(1), msisdn="+79000000001",
                                                     kind="shared", enabled=True))
                worker.start()  # its check does not see our uncommitted row; its insert waits for our lock
                deadline = time.monotonic() + 10
                blocked = False
                while not blocked and time.monotonic() < deadline:
                    blocked = bool(watcher.scalar(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")))
                    watcher.rollback()
                    if not blocked:
                        worker.join(timeout=0.02)
                assert blocked, "the second insert never waited on the first"
                other.commit()
                worker.join(timeout=10)
        finally:
            worker.join(timeout=10)
            engine.dispose()
        assert results, "the command did not finish"
        result = results[0]
        assert result.exit_code == 1
        assert result.stderr.strip() == \
            f"Error: ICCID {make_iccid(1)} is already registered to bank 1 slot 1 (+79000000001)"
