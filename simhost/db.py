"""Database engine and sessions: SQLite (WAL, the default) or PostgreSQL, migrated by alembic."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import sessionmaker

from simhost.config import ConfigError, shown_url
from simhost.inputs import shown

SQLITE_BUSY_TIMEOUT_MS = 30_000
DB_FILE_MODE = 0o600  # it holds the customers' MQTT password hashes


def parse_url(url: str) -> URL:
    """`url` as SQLAlchemy reads it (`postgresql://` meaning psycopg 3), or a ConfigError naming what is wrong."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"database URL {shown_url(url)} is not a URL (e.g. sqlite:///simhost.db or "
            "postgresql://user@host/db)"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys on every connection."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        require_psycopg()
    try:
        # a SQLite file connection cannot go stale; pinging it would cost a query per checkout
        engine = create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except NoSuchModuleError:
        raise ConfigError(
            f"database URL {shown_url(url)}: unknown database kind {shown(parsed.drivername)} "
            "(use sqlite:///PATH or postgresql://user@host/db)"
        ) from None
    except ImportError as exc:
        raise ConfigError(
            f"database URL {shown_url(url)}: no driver for {parsed.get_backend_name()} is installed "
            f"({exc.name or exc}); simhost supports sqlite:///PATH and postgresql://user@host/db"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    # FULL: a commit is on disk before the gateway deletes the SIM's copy (NORMAL can lose the last
    # commits on power loss in WAL mode); a sweep is one commit, so this costs nothing measurable
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def require_psycopg() -> None:
    """A ConfigError naming the extra to install when psycopg, PostgreSQL's driver, cannot be imported."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == "psycopg"
        why = "is not installed" if missing else f"cannot be loaded ({str(exc).splitlines()[0]})"
        raise ConfigError(f"a PostgreSQL database needs psycopg, which {why}: "
                          "pip install 'simhost[postgres]'") from None


def make_sessions(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_dir() -> Path:
    """alembic's script directory (env.py, versions/): the package `simhost_migrations`, alembic/ in the repository."""
    from importlib import resources

    # anchored on the regular package `versions`: importlib.resources cannot open the namespace package
    # simhost_migrations under an editable install before Python 3.13
    versions = resources.files("simhost_migrations.versions")
    if not isinstance(versions, Path):
        raise ConfigError(f"simhost's migrations are not files on disk ({versions}): alembic cannot read them")
    return versions.parent


HEAD_REVISION = "0008"  # the newest file in alembic/versions; a test keeps the two in step


def current_revision(url: str) -> str | None:
    """The schema revision the database at `url` is at; None when it has none (new or not migrated)."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            if not inspect(c).has_table("alembic_version"):
                return None
            return c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, made absolute; None for other databases, in-memory SQLite and URI filenames."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database).absolute()


def is_in_memory(url: str) -> bool:
    parsed = parse_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def creation_hint(url: str) -> str:
    """The command that creates the database at `url`, quoted for a message."""
    path = sqlite_file(url)
    if path is not None:
        url = parse_url(url).set(drivername="sqlite", database=str(path)).render_as_string(hide_password=False)
    return f"'simhost --db {shlex.quote(url)} db upgrade'"


def _create_private_file(path: Path) -> None:
    """An empty SQLite database file at `path`, mode 0600 from the start: SQLite gives its -journal, -wal
    and -shm files the database file's mode, so they are private too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, DB_FILE_MODE)
    except FileExistsError:
        return
    except FileNotFoundError:
        raise ConfigError(f"cannot create the database {path}: no directory {path.parent}") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the database {path}: {exc.strerror or exc}") from None
    os.close(fd)


def upgrade(url: str, revision: str = "head", *, create: bool = True) -> None:
    """Migrate the database at `url` to `revision` (alembic).

    With `create`, a SQLite file that does not exist is created (mode 0600) and an empty database gets the
    schema; without it, both are a ConfigError saying how to create the database (only `simhost db upgrade`
    creates one, so a mistyped path is never taken for a new, empty database). A database already at the
    newest revision is left alone without loading alembic (a tenth of a second of every start).
    """
    path = sqlite_file(url)
    if path is not None and not path.exists():
        if not create:
            where = f" (no directory {path.parent})" if not path.parent.is_dir() else ""
            raise ConfigError(f"no database at {path}{where}: create it with {creation_hint(url)}")
        _create_private_file(path)
    if not create and is_in_memory(url):
        raise ConfigError("an in-memory SQLite database keeps nothing from one connection to the next: "
                          "give a file, sqlite:///PATH")
    current = current_revision(url)
    if current is None and not create:
        where = str(path) if path is not None else shown_url(url)
        raise ConfigError(f"the database at {where} has no simhost tables: create them with {creation_hint(url)}")
    if revision == "head" and current == HEAD_REVISION:
        return
    from alembic.config import Config

    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, revision)
