"""Cursor pagination, newest first: an opaque cursor holds the (time, id) of the last row given, and the next page
starts strictly after it, so rows that arrive meanwhile neither repeat nor push rows out of the walk."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from simhost.registry.validate import as_utc
from simhost.web.problems import ProblemError

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
T = TypeVar("T")


def encode(at: datetime, key: str | int) -> str:
    raw = json.dumps([as_utc(at).isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str) -> tuple[datetime, str | int]:
    try:
        at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise ValueError(key)
        return as_utc(datetime.fromisoformat(at)), key
    except (ValueError, TypeError):
        raise ProblemError(422, "Unprocessable Content", "the cursor is not one this API gave",
                           kind="validation") from None


def page(query: Select[T], time_col: InstrumentedAttribute[datetime], id_col: InstrumentedAttribute[str] |
         InstrumentedAttribute[int], cursor: str | None, limit: int) -> Select[T]:
    """`query` newest first, after `cursor`, one row more than `limit` (which says whether there is a next page)."""
    if cursor is not None:
        at, key = decode(cursor)
        query = query.where(or_(time_col < at, and_(time_col == at, id_col < key)))
    return query.order_by(time_col.desc(), id_col.desc()).limit(limit + 1)
