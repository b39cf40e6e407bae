"""Database engine and sessions: SQLite (WAL, the default) or PostgreSQL, migrated by alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import sessionmaker

from simhost.config import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys on every connection."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"database URL {url!r} is not a URL (e.g. sqlite:///simhost.db or "
            "postgresql+psycopg://user@host/db)"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "postgresql":
        require_psycopg()
    # a SQLite file connection cannot go stale; pinging it would cost a query per checkout
    engine = create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
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


HEAD_REVISION = "0002"  # the newest file in alembic/versions; a test keeps the two in step


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


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (alembic), creating it if it does not exist.

    A database already at the newest revision is left alone without loading alembic (a tenth of a second
    of every start).
    """
    if revision == "head" and current_revision(url) == HEAD_REVISION:
        return
    from alembic.config import Config

    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(alembic_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, revision)
