"""Helpers for the configuration tests: a config file written with a chosen mode, `config show --json` read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from tests.cli.clilib import ok

JsonObject = dict[str, object]


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def shown_settings(*args: str, env: Mapping[str, str | None] | None = None) -> JsonObject:
    """`simhost ARGS config show --json`, parsed."""
    return cast(JsonObject, json.loads(ok(*args, "config", "show", "--json", env=env).stdout))


def setting(shown: JsonObject, key: str) -> tuple[object, object]:
    """The value of `key` in `config show --json` and where it came from."""
    entry = cast(JsonObject, cast(JsonObject, shown["settings"])[key])
    return entry["value"], entry["from"]
