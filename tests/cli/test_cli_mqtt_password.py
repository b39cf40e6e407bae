"""The MQTT password comes from a file (`--mqtt-password-file`) or SIMHOST_MQTT_PASSWORD, never necessarily the
command line; what can go wrong with the file is said in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from simhost.db import upgrade
from tests.cli.clilib import fails, invoke, ok


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    return url


def private_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_a_missing_password_file_is_named(db: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert fails("--db", db, "--mqtt-password-file", str(missing), "port", "list") == (
        f"Error: MQTT password file {missing}: no such file")
    line = fails("--db", db, "port", "list", env={"SIMHOST_MQTT_PASSWORD_FILE": str(missing)})
    assert line == f"Error: MQTT password file {missing}: no such file"


def test_a_directory_or_an_empty_file_is_refused(db: str, tmp_path: Path) -> None:
    line = fails("--db", db, "--mqtt-password-file", str(tmp_path), "port", "list")
    assert line == f"Error: MQTT password file {tmp_path}: is a directory"
    empty = private_file(tmp_path / "empty", "\n")
    assert fails("--db", db, "--mqtt-password-file", str(empty), "port", "list") == (
        f"Error: MQTT password file {empty} is empty")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    binary.chmod(0o600)
    assert fails("--db", db, "--mqtt-password-file", str(binary), "port", "list") == (
        f"Error: MQTT password file {binary} is not UTF-8 text")


def test_a_world_readable_password_file_gets_a_warning(db: str, tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("secret\n")
    path.chmod(0o644)
    result = ok("--db", db, "--mqtt-password-file", str(path), "port", "list")
    assert result.stderr == f"warning: MQTT password file {path} is readable by every user: chmod 600 it\n"
    assert "secret" not in result.output
    path.chmod(0o640)
    assert ok("--db", db, "--mqtt-password-file", str(path), "port", "list").stderr == ""


def test_a_password_needs_a_user_in_the_url(db: str, tmp_path: Path) -> None:
    path = private_file(tmp_path / "pw", "secret\n")
    line = fails("--db", db, "--mqtt", "mqtt://127.0.0.1:1", "--mqtt-password-file", str(path),
                 "run", "--only", "router")
    assert line == ("Error: an MQTT password is given (--mqtt-password-file or SIMHOST_MQTT_PASSWORD) but the "
                    "MQTT URL 'mqtt://127.0.0.1:1' names no user: give one, mqtt://USER@HOST:PORT")
    line = fails("--db", db, "--mqtt", "mqtt://127.0.0.1:1", "run", "--only", "router",
                 env={"SIMHOST_MQTT_PASSWORD": "secret"})
    assert "names no user" in line
    assert "secret" not in line


def test_a_password_that_is_not_utf8_is_refused_without_quoting_it(db: str) -> None:
    line = fails("--db", db, "port", "list", env={"SIMHOST_MQTT_PASSWORD": "s3cr\udcffet"})
    assert line == "Error: SIMHOST_MQTT_PASSWORD is not UTF-8 text"


def test_help_shows_the_ways_to_give_the_password() -> None:
    text = " ".join(invoke("--help").output.split())
    assert "--mqtt-password-file PATH" in text
    assert "SIMHOST_MQTT_PASSWORD" in text
