"""Migration 0002 on SQLite and PostgreSQL: upgrading a gateway-only database keeps its data, the registry
tables work, the schema matches the models, and downgrading returns to 0001 without losing the spool."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from alembic import command
from simhost.db import HEAD_REVISION, alembic_dir, current_revision, make_engine, make_sessions, upgrade
from simhost.models import Base
from simhost.registry.models import (
    Customer,
    RoutedMessage,
    SentLog,
    SimSlot,
    WhitelistEntry,
    bump_version,
    current_version,
)
from simhost.registry.snapshot import load_directory
from simhost.security import models as _access_tables  # noqa: F401  (their tables in Base.metadata)
from tests.registry.test_registry_cli import fresh_pg_database, make_iccid

REGISTRY_TABLES = {"customers", "sim_slots", "whitelist", "sent_log", "routed_messages", "registry_version"}
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/simhost.db"
        return
    with fresh_pg_database() as url:
        yield url


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def gateway_rows(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return [
                *c.execute(text("SELECT name, url, driver, enabled FROM ports ORDER BY name")).all(),
                *c.execute(text("SELECT id, port, iccid, msisdn, pdu, seq, total FROM inbound_parts")).all(),
                *c.execute(text("SELECT id, port, kind, topic, payload, published_at FROM outbox ORDER BY id")).all(),
            ]
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_the_spool_and_adds_a_working_registry(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0001")
    engine = make_engine(db_url)
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO ports (name, url, driver, enabled, created_at) VALUES "
                           "('port01', '/dev/simhost/port01', 'simcom', :t, :at), "
                           "('port02', 'socket://127.0.0.1:7001', NULL, :f, :at)"),
                      {"t": True, "f": False, "at": T0})
            c.execute(text("INSERT INTO inbound_parts (id, port, iccid, msisdn, pdu, received_at, concat_key, seq, "
                           "total, message_id) VALUES ('part1', 'port01', :iccid, '+79000000001', '07919761', :at, "
                           "'k1', 1, 2, NULL)"), {"iccid": make_iccid(1), "at": T0})
            c.execute(text("INSERT INTO outbox (id, port, kind, topic, payload, created_at, published_at) VALUES "
                           "('m1', 'port01', 'sms', 'simhost/v1/inbound/port01', '{\"id\": \"m1\"}', :at, NULL), "
                           "('m2', 'port01', 'call', 'simhost/v1/inbound/port01', '{}', :at, :at)"), {"at": T0})
        assert not REGISTRY_TABLES & set(inspect(engine).get_table_names())
        before = gateway_rows(db_url)

        command.upgrade(cfg, "head")
        assert gateway_rows(db_url) == before
        assert set(inspect(engine).get_table_names()) >= REGISTRY_TABLES
        with engine.connect() as c:
            diffs = compare_metadata(MigrationContext.configure(c), Base.metadata)
        assert diffs == [], diffs

        sessions = make_sessions(engine)
        with sessions() as s:
            assert current_version(s) == 0
        with sessions.begin() as s:
            acme = Customer(login="acme", verified=True, enabled=True)
            s.add(acme)
            s.flush()
            slot = SimSlot(bank=1, slot=1, iccid=make_iccid(1), msisdn="+79000000001", kind="hosted-company",
                           owner_id=acme.id, enabled=True, port="port01")
            s.add(slot)
            s.flush()
            s.add(WhitelistEntry(slot_id=slot.id, sender_name="Sberbank", sender_key="sberbank", approved_by="t"))
            s.add(SentLog(from_number="+79000000001", to_subscriber="+79160000001", owner_id=acme.id, at=T0,
                          source="cli"))
            s.add(RoutedMessage(id="m1", kind="sms", status="routed", owner="acme", number="+79000000001",
                                number_kind="hosted-company", sender="Sberbank", rule="dedicated",
                                reason_code=None, reason=None, text="hi", received_at=T0, topic="t",
                                payload="{}"))
            bump_version(s)
        with sessions() as s:
            assert current_version(s) == 1
            d = load_directory(s, now=T0)
        number = d.number(None, make_iccid(1))
        assert number is not None
        assert (number.owner, number.whitelist) == ("acme", frozenset({"sberbank"}))
        send = d.last_send("+79160000001", T0)
        assert send is not None
        assert (send.owner, send.at) == ("acme", T0)

        command.downgrade(cfg, "0001")
        assert not REGISTRY_TABLES & set(inspect(engine).get_table_names())
        assert gateway_rows(db_url) == before
        command.upgrade(cfg, "head")
        with sessions() as s:
            assert current_version(s) == 0
    finally:
        engine.dispose()


def test_head_revision_constant_matches_the_newest_migration(tmp_path: Path) -> None:
    """`upgrade` skips alembic when the database is at HEAD_REVISION, so it must name the real head."""
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
    url = f"sqlite:///{tmp_path}/fresh.db"
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == HEAD_REVISION
    upgrade(url)  # already there: a no-op
    assert current_revision(url) == HEAD_REVISION
