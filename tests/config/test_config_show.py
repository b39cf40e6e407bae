"""`simhost config show`: every setting, where it came from, secrets hidden; and the warning for a config file or
password file every user may read."""

from __future__ import annotations

from pathlib import Path

from simhost.config import SETTINGS
from tests.cli.clilib import ok
from tests.config.conflib import setting, shown_settings, write

SECRETS = ("filepassword", "urlpassword", "smtppassword", "groupsecret", "envpassword")
WITH_SECRETS = """\
[mqtt]
url = "mqtt://router:urlpassword@broker.example:1883"
password = "filepassword"

[router]
group = "groupsecret"

[mail]
smtp_url = "smtp+starttls://mailer:smtppassword@mail.example:587"
"""


def test_show_lists_every_setting_with_its_value_source_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path / "simhost.toml", '[sending]\ngap_s = 5\n[delivery]\nallow_private = true\n')
    out = ok("--config", str(path), "--region", "DE", "config", "show",
             env={"SIMHOST_SEND_MAX_PARTS": "4"}).stdout.splitlines()
    assert out[0] == f"config file: {path} (flag --config)"
    assert out[1].split() == ["KEY", "VALUE", "FROM", "ENV"]
    rows = {line.split()[0]: line.split() for line in out[2:]}
    assert list(rows) == [s.key for s in SETTINGS]
    assert rows["sending.gap_s"] == ["sending.gap_s", "5", "file", str(path), "SIMHOST_SEND_GAP_S"]
    assert rows["delivery.allow_private"] == ["delivery.allow_private", "true", "file", str(path),
                                              "SIMHOST_DELIVERY_ALLOW_PRIVATE"]
    assert rows["sending.max_parts"] == ["sending.max_parts", "4", "env", "SIMHOST_SEND_MAX_PARTS",
                                         "SIMHOST_SEND_MAX_PARTS"]
    assert rows["region"] == ["region", "DE", "flag", "--region", "SIMHOST_REGION"]
    assert rows["metrics.listen"] == ["metrics.listen", "-", "default", "SIMHOST_METRICS_LISTEN"]
    assert rows["gateway.processes"] == ["gateway.processes", "auto", "default", "SIMHOST_GATEWAY_PROCESSES"]


def test_show_json_gives_typed_values() -> None:
    shown = shown_settings(env={"SIMHOST_DELIVERY_RETRY_S": "2.5", "SIMHOST_GATEWAY_PROCESSES": "3"})
    assert shown["config_file"] is None
    assert setting(shown, "delivery.retry_s") == (2.5, "env SIMHOST_DELIVERY_RETRY_S")
    assert setting(shown, "gateway.processes") == (3, "env SIMHOST_GATEWAY_PROCESSES")
    assert setting(shown, "delivery.allow_private") == (False, "default")
    assert setting(shown, "mail.smtp_url") == (None, "default")
    settings = shown["settings"]
    assert isinstance(settings, dict)
    assert settings["mqtt.url"]["env"] == "SIMHOST_MQTT"


def test_show_hides_secrets(tmp_path: Path) -> None:
    path = str(write(tmp_path / "simhost.toml", WITH_SECRETS))
    for args in (("config", "show"), ("config", "show", "--json")):
        result = ok("--config", path, *args)
        assert not [s for s in SECRETS if s in result.output], result.output
    shown = shown_settings("--config", path)
    assert setting(shown, "mqtt.url") == ("mqtt://router:***@broker.example:1883", f"file {path}")
    assert setting(shown, "mqtt.password") == ("***", f"file {path}")
    assert setting(shown, "router.group") == ("***", f"file {path}")
    assert setting(shown, "mail.smtp_url") == ("smtp+starttls://mailer:***@mail.example:587", f"file {path}")
    assert setting(shown_settings(), "router.group") == ("routers", "default")  # the default is no secret
    shown = shown_settings("--config", path, env={"SIMHOST_MQTT_PASSWORD": "envpassword"})
    assert setting(shown, "mqtt.password") == ("***", "env SIMHOST_MQTT_PASSWORD")


def test_the_password_file_wins_at_its_own_level_and_loses_to_a_higher_one(tmp_path: Path) -> None:
    password_file = write(tmp_path / "router.password", "frompasswordfile\n")
    path = str(write(tmp_path / "simhost.toml", f'[mqtt]\npassword = "filepassword"\n'
                                                f'password_file = "{password_file}"\n'))
    from_file = f"password file {password_file}"
    assert setting(shown_settings("--config", path), "mqtt.password") == ("***", from_file)
    env = {"SIMHOST_MQTT_PASSWORD": "envpassword"}
    assert setting(shown_settings("--config", path, env=env), "mqtt.password") == (
        "***", "env SIMHOST_MQTT_PASSWORD")
    shown = shown_settings("--config", path, "--mqtt-password-file", str(password_file), env=env)
    assert setting(shown, "mqtt.password") == ("***", from_file)
    assert setting(shown, "mqtt.password_file") == (str(password_file), "flag --mqtt-password-file")


def test_a_config_file_with_secrets_that_every_user_may_read_gets_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "simhost.toml", WITH_SECRETS, 0o644)
    result = ok("--config", str(path), "config", "show")
    assert result.stderr == (f"warning: config file {path} holds secrets (mqtt.url, mqtt.password, router.group, "
                             "mail.smtp_url) and is readable by every user: chmod o-r it\n")
    path.chmod(0o640)
    assert ok("--config", str(path), "config", "show").stderr == ""
    plain = write(tmp_path / "plain.toml", '[mqtt]\nurl = "mqtt://router@broker.example"\n', 0o644)
    assert ok("--config", str(plain), "config", "show").stderr == ""


def test_a_password_file_named_in_the_config_file_gets_its_own_warning(tmp_path: Path) -> None:
    password_file = write(tmp_path / "router.password", "secret\n", 0o644)
    path = write(tmp_path / "simhost.toml", f'[mqtt]\nurl = "mqtt://router@h"\npassword_file = "{password_file}"\n')
    result = ok("--config", str(path), "config", "show")
    assert result.stderr == f"warning: MQTT password file {password_file} is readable by every user: chmod 600 it\n"
