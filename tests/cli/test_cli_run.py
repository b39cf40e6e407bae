"""`simhost run` refuses what it cannot run, with one line saying why and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from simhost.cli import main
from simhost.db import upgrade


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_gateway_processes_must_be_a_count_or_auto(tmp_path: Path, value: str) -> None:
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path}/s.db", "run", "--gateway-processes", value])
    assert result.exit_code == 2
    assert "give a number of processes (1 or more) or 'auto'" in result.output
    assert "Traceback" not in result.output


def test_gateway_alone_without_ports_says_how_to_add_one(tmp_path: Path) -> None:
    upgrade(f"sqlite:///{tmp_path}/s.db")
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path}/s.db", "run", "--only", "gateway"])
    assert result.exit_code == 1
    assert "no ports registered: add one with `simhost port add NAME --url URL`" in result.output
