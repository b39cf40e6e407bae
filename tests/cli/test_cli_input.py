"""What an operator may mistype: arguments that are not UTF-8 and database URLs that are no database,
each refused in one line with a non-zero exit and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from simhost.db import upgrade
from tests.cli.clilib import failed_process_line, fails, run_simhost


def test_non_utf8_arguments_from_a_shell_are_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    for args in (
        [b"owner", b"add", b"\xff"],
        [b"port", b"add", b"p1", b"--url", b"/dev/tty\xffUSB0"],
        [b"owner", b"add", b"acme", b"--name", b"Caf\xe9"],
    ):
        line = failed_process_line(run_simhost("--db", url, *args, cwd=tmp_path))
        assert "is not UTF-8" in line, line
        assert "\\xff" in line or "\\xe9" in line, line


@pytest.mark.parametrize("args", [
    ["owner", "add", "\udcff"],
    ["owner", "add", "acme", "--name", "Caf\udce9"],
    ["port", "add", "p1", "--url", "/dev/tty\udcffUSB0"],
    ["port", "add", "\udcff", "--url", "/dev/ttyUSB0"],
    ["whitelist", "add", "+79161234567", "Sber\udcffbank"],
    ["\udcff"],
])
def test_non_utf8_arguments_in_process_are_refused_in_one_line(tmp_path: Path, args: list[str]) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    line = fails("--db", url, *args)
    assert "is not UTF-8" in line, line


def test_non_utf8_environment_setting_is_refused(tmp_path: Path) -> None:
    line = fails("owner", "list", env={"SIMHOST_DB": f"sqlite:///{tmp_path}/\udcff.db"})
    assert "SIMHOST_DB" in line or "--db" in line, line
    assert "is not UTF-8" in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("url", "says"), [
    ("sqlit:///x.db", "unknown database kind 'sqlit'"),
    ("nonsense", "is not a URL"),
    ("postgresql://host:port/db", "is not a URL"),
    ("mysql://user@host/db", "no driver for mysql"),
])
def test_database_url_typos_are_named_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str,
                                                   says: str) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["owner", "list"], ["db", "upgrade"], ["port", "list"], ["run"]):
        line = fails("--db", url, *command)
        assert says in line, line
        assert "database URL" in line, line
    assert list(tmp_path.iterdir()) == []


def test_database_url_typo_from_a_shell(tmp_path: Path) -> None:
    line = failed_process_line(run_simhost("--db", "sqlit:///x.db", "owner", "list", cwd=tmp_path))
    assert line == ("Error: database URL 'sqlit:///x.db': unknown database kind 'sqlit' "
                    "(use sqlite:///PATH or postgresql://user@host/db)")


def test_database_url_errors_hide_the_password(tmp_path: Path) -> None:
    line = fails("--db", "postgresql://user:hunter2@host:port/db", "owner", "list")
    assert "hunter2" not in line
