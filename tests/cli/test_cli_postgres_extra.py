"""A PostgreSQL URL without psycopg (the extra `postgres`) is one line naming the extra, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

URL = "postgresql://simhost:s3cret@127.0.0.1:1/simhost"


def run_simhost(prelude: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nfrom simhost.cli import main\nmain(['--db', {URL!r}, 'db', 'upgrade'])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env=env, check=False)


def test_missing_psycopg_names_the_extra(tmp_path: Path) -> None:
    result = run_simhost("import sys; sys.modules['psycopg'] = None", tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("Error: a PostgreSQL database needs psycopg, which is not installed: "
                             "pip install 'simhost[postgres]'\n")
    assert result.stdout == ""


def test_psycopg_that_cannot_load_says_why(tmp_path: Path) -> None:
    # psycopg without libpq or its binary part fails on import with several lines
    fake = tmp_path / "fake" / "psycopg"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no pq wrapper available.\\nAttempts made:\\n- c')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    result = run_simhost("", tmp_path, env)
    assert result.returncode == 1
    assert result.stderr == ("Error: a PostgreSQL database needs psycopg, which cannot be loaded "
                             "(no pq wrapper available.): pip install 'simhost[postgres]'\n")


def test_sqlite_does_not_need_psycopg(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['psycopg'] = None\nfrom simhost.cli import main\n"
            f"main(['--db', 'sqlite:///{tmp_path}/s.db', 'db', 'upgrade'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert "is at the newest schema" in result.stdout
