"""Logging set-up for the services: plain text lines, or one JSON object per line with the events' own fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
# every attribute a LogRecord has of its own; the others came in `extra` and are the event's fields
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, every field given with
    `extra={...}`, and `exception` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: int, log_format: str = "text") -> None:
    """The root logger at `level`, writing to stderr in `log_format` (text or json)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def announce(line: str, logger: str = "simhost.run") -> None:
    """A line the operator always sees on stderr, whatever the level (what runs, and where): plain, or as a JSON
    object (level INFO) when the logs are JSON, so that every line stays one object."""
    if current_format() == "json":
        line = JsonFormatter().format(logging.LogRecord(logger, logging.INFO, "", 0, line, None, None))
    print(line, file=sys.stderr, flush=True)


def current_format() -> str:
    """The format the root logger writes in now (what a gateway process started afresh must write in too)."""
    json_handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    return "json" if json_handlers else "text"
