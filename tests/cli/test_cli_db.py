"""Only `simhost db upgrade` creates a database, and it creates the SQLite file (and its journals) mode 0600;
every other command on a missing database says how to create it."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from simhost.db import make_engine, upgrade
from tests.cli.clilib import failed_process_line, fails, ok, run_simhost

COMMANDS = [
    ["owner", "list"],
    ["owner", "add", "acme"],
    ["port", "list"],
    ["port", "add", "p1", "--url", "/dev/ttyUSB0"],
    ["slot", "list"],
    ["whitelist", "list"],
    ["inbox"],
    ["status"],
    ["mqtt", "acl", "--out", "mqtt"],
    ["udev", "ports"],
    ["run"],
    ["run", "--only", "router"],
]


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files are created world-readable unless asked otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_commands_on_a_missing_database_say_how_to_create_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             command: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "typo.db"
    line = fails("--db", f"sqlite:///{path}", *command)
    assert line == f"Error: no database at {path}: create it with 'simhost --db sqlite:///{path} db upgrade'"
    assert list(tmp_path.iterdir()) == []


def test_a_relative_path_is_named_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = fails("--db", "sqlite:///simhost.db", "owner", "list")
    assert line == (f"Error: no database at {tmp_path}/simhost.db: "
                    f"create it with 'simhost --db sqlite:///{tmp_path}/simhost.db db upgrade'")
    line = fails("owner", "list", env={"SIMHOST_DB": None})  # the default, sqlite:///simhost.db
    assert f"no database at {tmp_path}/simhost.db" in line
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nodir" / "s.db"
    line = fails("--db", f"sqlite:///{path}", "owner", "list")
    assert line.startswith(f"Error: no database at {path} (no directory {tmp_path}/nodir): create it with")
    line = fails("--db", f"sqlite:///{path}", "db", "upgrade")
    assert line == f"Error: cannot create the database {path}: no directory {tmp_path}/nodir"
    assert not (tmp_path / "nodir").exists()


def test_run_on_a_missing_database_from_a_shell(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    line = failed_process_line(run_simhost("--db", f"sqlite:///{path}", "run", cwd=tmp_path))
    assert line == f"Error: no database at {path}: create it with 'simhost --db sqlite:///{path} db upgrade'"
    assert not path.exists()


def test_a_database_without_simhost_tables_is_not_migrated_behind_ones_back(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    line = fails("--db", f"sqlite:///{path}", "owner", "list")
    assert line == (f"Error: the database at {path} has no simhost tables: "
                    f"create them with 'simhost --db sqlite:///{path} db upgrade'")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    assert "in-memory" in fails("--db", "sqlite://", "owner", "list")


def test_db_upgrade_creates_then_others_use_it(tmp_path: Path, umask_022: None) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    ok("--db", url, "db", "upgrade")
    ok("--db", url, "owner", "add", "acme")
    assert "acme" in ok("--db", url, "owner", "list").output


def test_database_and_its_journals_are_created_0600(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "s.db"
    ok("--db", f"sqlite:///{path}", "db", "upgrade")
    assert mode(path) == 0o600
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:  # held open: the -wal and -shm files exist while it is
            conn.execute(text("INSERT INTO ports (name, url, enabled, created_at) "
                              "VALUES ('p', 'u', 1, '2026-01-01')"))
            conn.commit()
            files = sorted(tmp_path.iterdir())
            assert [f.name for f in files] == ["s.db", "s.db-shm", "s.db-wal"]
            assert {f.name: mode(f) for f in files} == dict.fromkeys(["s.db", "s.db-shm", "s.db-wal"], 0o600)
    finally:
        engine.dispose()


def test_database_created_by_the_library_is_0600_too(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "lib.db"
    upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600


def test_db_upgrade_from_a_shell_creates_0600(tmp_path: Path) -> None:
    proc = run_simhost("--db", "sqlite:///s.db", "db", "upgrade", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert mode(tmp_path / "s.db") == 0o600


def test_db_upgrade_warns_about_a_database_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    upgrade(f"sqlite:///{path}")
    path.chmod(0o644)
    result = ok("--db", f"sqlite:///{path}", "db", "upgrade")
    assert f"warning: {path} is readable by other users" in result.stderr
    assert mode(path) == 0o644
