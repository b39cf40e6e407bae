"""The TOML config file under the environment and the flags: precedence for every kind of setting, and one-line
errors for unknown keys, wrong types, bad values and files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from simhost.config import SETTINGS, USSD_TABLES, ConfigError, Settings
from tests.cli.clilib import fails
from tests.config.conflib import setting, shown_settings, write

# (key, in the file, in the environment, its value from the environment) for settings of every kind
CASES = [
    ("database.url", '"sqlite:////srv/file.db"', "sqlite:////srv/env.db", "sqlite:////srv/env.db"),
    ("mqtt.topic_prefix", '"fromfile"', "fromenv", "fromenv"),
    ("sending.gap_s", "7.5", "2", 2.0),
    ("router.ack_timeout_s", "0", "45", 45.0),
    ("sending.max_parts", "3", "4", 4),
    ("delivery.allow_private", "true", "0", False),
    ("gateway.processes", "4", "auto", "auto"),
    ("metrics.listen", '"127.0.0.1:9100"', "0.0.0.0:9100", "0.0.0.0:9100"),
]
BY_KEY = {s.key: s for s in SETTINGS}


def toml(key: str, value: str) -> str:
    section, _, name = key.rpartition(".")
    return f"[{section}]\n{name} = {value}\n" if section else f"{key} = {value}\n"


@pytest.mark.parametrize(("key", "in_file", "in_env", "from_env"), CASES)
def test_the_environment_overrides_the_file_which_overrides_the_default(
        tmp_path: Path, key: str, in_file: str, in_env: str, from_env: object) -> None:
    entry = BY_KEY[key]
    path = str(write(tmp_path / "simhost.toml", toml(key, in_file)))
    default = getattr(Settings(), entry.field)
    loaded = Settings.load(environ={})
    assert (getattr(loaded.settings, entry.field), loaded.sources[entry.field]) == (default, "default")
    loaded = Settings.load(path, environ={})
    from_file = getattr(loaded.settings, entry.field)
    assert from_file != default
    assert loaded.sources[entry.field] == f"file {path}"
    loaded = Settings.load(path, environ={entry.env: in_env})
    assert (getattr(loaded.settings, entry.field), loaded.sources[entry.field]) == (from_env, f"env {entry.env}")
    assert from_env != from_file


@pytest.mark.parametrize(("option", "key", "env", "values"), [
    ("--db", "database.url", "SIMHOST_DB", ("sqlite:///f.db", "sqlite:///e.db", "sqlite:///c.db")),
    ("--mqtt", "mqtt.url", "SIMHOST_MQTT", ("mqtt://file@h", "mqtt://env@h", "mqtt://flag@h")),
    ("--topic-prefix", "mqtt.topic_prefix", "SIMHOST_TOPIC_PREFIX", ("fi", "en", "fl")),
    ("--region", "region", "SIMHOST_REGION", ("DE", "FR", "IT"))])
def test_a_flag_overrides_the_environment_and_the_file(tmp_path: Path, option: str, key: str, env: str,
                                                       values: tuple[str, str, str]) -> None:
    in_file, in_env, in_flag = values
    path = str(write(tmp_path / "simhost.toml", toml(key, f'"{in_file}"')))
    assert setting(shown_settings("--config", path), key) == (in_file, f"file {path}")
    assert setting(shown_settings("--config", path, env={env: in_env}), key) == (in_env, f"env {env}")
    assert setting(shown_settings("--config", path, option, in_flag, env={env: in_env}), key) == (
        in_flag, f"flag {option}")


def test_an_empty_variable_is_unset(tmp_path: Path) -> None:
    path = str(write(tmp_path / "simhost.toml", '[sending]\ngap_s = 9\n'))
    assert setting(shown_settings("--config", path, env={"SIMHOST_SEND_GAP_S": " "}), "sending.gap_s") == (
        9.0, f"file {path}")


def test_the_config_file_comes_from_the_flag_the_environment_or_the_default_path(
        tmp_path: Path, default_path: Path) -> None:
    assert shown_settings()["config_file"] is None
    default_path.parent.mkdir()
    write(default_path, 'region = "DE"\n')
    named = str(write(tmp_path / "named.toml", 'region = "FR"\n'))
    flagged = str(write(tmp_path / "flagged.toml", 'region = "IT"\n'))
    shown = shown_settings()
    assert shown["config_file"] == {"path": str(default_path), "from": "default path"}
    assert setting(shown, "region") == ("DE", f"file {default_path}")
    shown = shown_settings(env={"SIMHOST_CONFIG": named})
    assert shown["config_file"] == {"path": named, "from": "env SIMHOST_CONFIG"}
    assert setting(shown, "region") == ("FR", f"file {named}")
    shown = shown_settings("--config", flagged, env={"SIMHOST_CONFIG": named})
    assert shown["config_file"] == {"path": flagged, "from": "flag --config"}
    assert setting(shown, "region") == ("IT", f"file {flagged}")


def test_a_missing_named_file_is_an_error_a_missing_default_is_not(tmp_path: Path, default_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert fails("--config", str(missing), "config", "show") == f"Error: config file {missing}: no such file"
    assert fails("config", "show", env={"SIMHOST_CONFIG": str(missing)}) == (
        f"Error: config file {missing}: no such file")
    assert fails("--config", str(tmp_path), "config", "show") == f"Error: config file {tmp_path}: is a directory"
    assert not default_path.exists()
    assert setting(shown_settings(), "database.url") == ("sqlite:///simhost.db", "default")


def test_from_env_reads_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMHOST_CONFIG", str(write(tmp_path / "simhost.toml", 'region = "DE"\n')))
    monkeypatch.setenv("SIMHOST_SEND_MAX_PARTS", "5")
    settings = Settings.from_env()
    assert (settings.region, settings.send_max_parts) == ("RU", 5)


@pytest.mark.parametrize(("text", "error"), [
    ('[mqtt]\nurll = "mqtt://h"\n', "unknown key mqtt.urll (did you mean mqtt.url?)"),
    ('mqqt.url = "mqtt://h"\n', "unknown key mqqt.url (did you mean mqtt.url?)"),
    ('db = "sqlite:///x.db"\n', "unknown key db (did you mean database.url?)"),
    ("send_gap_s = 1\n", "unknown key send_gap_s (did you mean sending.gap_s?)"),
    ("[mqtt]\nkeepalive = 60\n", "unknown key mqtt.keepalive ([mqtt] takes url, password_file, password, "
                                 "topic_prefix, dynsec, dynsec_admin, dynsec_admin_password_file)"),
    ("[sending]\ngap_s = \"5\"\n", "sending.gap_s must be a number of seconds, not a string"),
    ("[sending]\nmax_parts = 2.5\n", "sending.max_parts must be an integer, not a float"),
    ("[delivery]\nallow_private = 1\n", "delivery.allow_private must be true or false, not an integer"),
    ("[gateway]\nprocesses = true\n", 'gateway.processes must be an integer or "auto", not a boolean'),
    ("region = 7\n", "region must be a string, not an integer"),
    ('mqtt = "mqtt://h"\n', "mqtt must be a table ([mqtt]), not a string"),
    ("[sending]\nmax_parts = 0\n", "sending.max_parts = 0: give a whole number from 1 to 255"),
    ("[delivery]\nretry_s = 90000\n", "delivery.retry_s = 90000: give 0 to 86400 seconds"),
    ('[gateway]\nprocesses = "many"\n', "gateway.processes = 'many': give a number of processes (1 or more) "
                                        "or 'auto'"),
    ('[mqtt]\npassword = ""\n', "mqtt.password: must not be empty (leave the key out for the default)"),
])
def test_a_mistake_in_the_file_is_one_line_naming_file_and_key(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path / "simhost.toml", text)
    assert fails("--config", str(path), "config", "show") == f"Error: config file {path}: {error}"
    with pytest.raises(ConfigError, match=r"^config file "):
        Settings.load(str(path), environ={})


def test_a_file_that_is_not_toml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "simhost.toml", "[mqtt\nurl = 1\n")
    assert fails("--config", str(path), "config", "show").startswith(f"Error: config file {path} is not valid TOML: ")
    path.write_bytes(b'region = "\xff"\n')
    assert fails("--config", str(path), "config", "show") == f"Error: config file {path} is not UTF-8 text"


@pytest.mark.parametrize(("env", "error"), [
    ({"SIMHOST_SEND_GAP_S": "soon"}, "SIMHOST_SEND_GAP_S='soon': give 0 to 86400 seconds"),
    ({"SIMHOST_SEND_MAX_PARTS": "256"}, "SIMHOST_SEND_MAX_PARTS='256': give a whole number from 1 to 255"),
    ({"SIMHOST_DELIVERY_ALLOW_PRIVATE": "yes"}, "SIMHOST_DELIVERY_ALLOW_PRIVATE='yes': give 1 (yes) or 0 (no)"),
    ({"SIMHOST_GATEWAY_PROCESSES": "0"},
     "SIMHOST_GATEWAY_PROCESSES='0': give a number of processes (1 or more) or 'auto'"),
])
def test_a_bad_variable_is_one_line_naming_it(env: dict[str, str | None], error: str) -> None:
    assert fails("config", "show", env=env) == f"Error: {error}"


def test_the_table_covers_every_field_and_each_default_is_of_its_kind() -> None:
    fields = [f for f in Settings.__dataclass_fields__ if f != USSD_TABLES]  # [[ussd]] is a list, in the file only
    assert sorted(s.field for s in SETTINGS) == sorted(fields)
    assert len({s.key for s in SETTINGS}) == len({s.env for s in SETTINGS}) == len(SETTINGS)
    for entry in SETTINGS:
        default = getattr(Settings(), entry.field)
        assert default is None or entry.kind.check(default) == default, entry.key
