"""The config file's [[ussd]] tables: balance checks by network, shown by `config show`, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from simhost.config import ConfigError, Settings, UssdCheck
from tests.cli.clilib import fails, ok
from tests.config.conflib import shown_settings, write

CHECKS = """\
[sending]
gap_s = 5

[[ussd]]
network = "MTS RUS"
code = "*100#"
interval_s = 86400

[[ussd]]
network = "25002"
code = "*102#"
interval_s = 3600
amount = 'Balans:? (-?\\d+[.,]\\d+)'
timeout_s = 20
"""


def test_checks_load_in_order_with_defaults_and_config_show_lists_them(tmp_path: Path) -> None:
    path = str(write(tmp_path / "simhost.toml", CHECKS))
    settings = Settings.load(path, environ={}).settings
    assert settings.ussd == (
        UssdCheck("MTS RUS", "*100#", 86400.0),
        UssdCheck("25002", "*102#", 3600.0, r"Balans:? (-?\d+[.,]\d+)", 20.0),
    )
    assert settings.ussd[0].amount == r"(-?\d+[.,]\d+)"
    assert settings.ussd[0].timeout_s == 30.0
    assert settings.send_gap_s == 5.0
    assert shown_settings("--config", path)["ussd"] == [
        {"network": "MTS RUS", "code": "*100#", "interval_s": 86400.0, "amount": r"(-?\d+[.,]\d+)",
         "timeout_s": 30.0},
        {"network": "25002", "code": "*102#", "interval_s": 3600.0, "amount": r"Balans:? (-?\d+[.,]\d+)",
         "timeout_s": 20.0}]
    assert "[[ussd]] network MTS RUS: *100# every 86400 s" in ok("--config", path, "config", "show").stdout


def test_no_checks_by_default() -> None:
    assert Settings().ussd == ()
    assert Settings.load(environ={}, files=False).settings.ussd == ()


@pytest.mark.parametrize(("text", "error"), [
    ('ussd = "*100#"\n', "ussd must be an array of tables ([[ussd]]), not a string"),
    ('[ussd]\ncode = "*100#"\n', "ussd must be an array of tables ([[ussd]]), not a table"),
    ('[[ussd]]\nnetwork = "*"\ncode = "*100#"\n', "[[ussd]] number 1 needs interval_s"),
    ('[[ussd]]\nnetwork = "*"\ncode = "*100#"\ninterval_s = 60\nevery = 1\n',
     "[[ussd]] number 1: unknown key every (it takes network, code, interval_s, amount, timeout_s)"),
    ('[[ussd]]\nnetwork = "*"\ncode = \'*100#";ATD+79001234567;\'\ninterval_s = 60\n',
     "[[ussd]] number 1: code '*100#\";ATD+79001234567;': 1 to 32 of the characters 0-9, '*', '#' and '+'"),
    ('[[ussd]]\nnetwork = "*"\ncode = 100\ninterval_s = 60\n', "[[ussd]] number 1: code must be a non-empty string"),
    ('[[ussd]]\nnetwork = "*"\ncode = "*100#"\ninterval_s = 0\n',
     "[[ussd]] number 1: interval_s must be a number of seconds from 1 to 2678400"),
    ('[[ussd]]\nnetwork = "*"\ncode = "*100#"\ninterval_s = 60\ntimeout_s = 900\n',
     "[[ussd]] number 1: timeout_s must be a number of seconds from 1 to 600"),
    ('[[ussd]]\nnetwork = "*"\ncode = "*100#"\ninterval_s = 60\namount = "(\\\\d+"\n',
     "[[ussd]] number 1: amount is not a regular expression: missing ), unterminated subpattern at position 0"),
])
def test_a_mistake_in_a_check_is_one_line(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path / "simhost.toml", text)
    assert fails("--config", str(path), "config", "show") == f"Error: config file {path}: {error}"
    with pytest.raises(ConfigError, match=r"^config file "):
        Settings.load(str(path), environ={})
