"""Helpers for CLI tests: run `simhost` in-process (CliRunner) or as the installed command, and check failures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result

from simhost.cli import main

SIMHOST = Path(sys.executable).parent / "simhost"


def invoke(*args: str, env: Mapping[str, str | None] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=dict(env) if env else None, input=stdin)


def ok(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    result = invoke(*args, env=env)
    assert result.exit_code == 0, f"simhost {' '.join(args)[:200]}: {result.output[:2000]}"
    return result


def fails(*args: str, env: Mapping[str, str | None] | None = None) -> str:
    """The one-line reason of a command that must fail: non-zero exit, no traceback, one line on stderr."""
    result = invoke(*args, env=env)
    assert result.exit_code not in (0, None), f"simhost {' '.join(args)[:200]} succeeded: {result.output[:2000]}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[:2000]
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def run_simhost(*args: str | bytes, cwd: Path,
                env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The installed `simhost` command with raw argument bytes, as a shell would pass them."""
    return subprocess.run([os.fsencode(SIMHOST), *(os.fsencode(a) for a in args)], cwd=cwd, capture_output=True,
                          env=dict(os.environ, **(env or {})), check=False, timeout=60)


def failed_process_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The one stderr line of a `simhost` process that must fail without a traceback."""
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode not in (0, None), proc.stdout[:2000]
    assert "Traceback" not in err, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[:2000]
    return lines[0]
