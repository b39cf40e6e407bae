"""What every command shares: the Context (settings, database), one-line errors, JSON and table output."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from simhost.config import ConfigError, LoadedSettings, Settings
from simhost.db import make_engine, make_sessions, upgrade
from simhost.inputs import InputError

F = TypeVar("F", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


class Context:
    """What every command gets: the resolved settings (`loaded`: with where each came from) and lazily made
    database sessions."""

    def __init__(self, settings: Settings, loaded: LoadedSettings | None = None) -> None:
        self.settings = settings
        self.loaded = loaded
        self._engine: Engine | None = None
        self._sessions: Any = None

    def engine(self) -> Engine:
        """The database engine, the schema migrated to the newest revision first; a database that does not
        exist is a ConfigError saying how to create it (only `simhost db upgrade` does)."""
        if self._engine is None:
            upgrade(self.settings.db_url, create=False)
            self._engine = make_engine(self.settings.db_url)
        return self._engine

    def sessions(self) -> Any:
        if self._sessions is None:
            self._sessions = make_sessions(self.engine())
        return self._sessions


@contextmanager
def friendly() -> Iterator[None]:
    """Library errors as one-line click errors (no traceback)."""
    try:
        yield
    except (ConfigError, InputError) as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        raise click.ClickException(f"database error: {exc.orig}") from None


def friendly_errors(func: F) -> F:
    """`friendly` around a command."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with friendly():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[str] = ()) -> None:
    """Rows under their headers in columns as wide as their widest cell (`right`: headers of columns aligned
    right, for numbers); None shows as `-`; the last column is not padded."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    for line in cells:
        parts = [cell.rjust(widths[i]) if headers[i] in right else cell.ljust(widths[i])
                 for i, cell in enumerate(line)]
        parts[-1] = parts[-1].rstrip() if headers[-1] not in right else parts[-1]
        click.echo("  ".join(parts).rstrip())
