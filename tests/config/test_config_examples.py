"""The shipped examples: the systemd units pass `systemd-analyze verify`, each runs its one service, only the
gateway joins dialout; the example config file loads and names every setting."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from simhost.config import BY_KEY
from tests.cli.clilib import ok
from tests.config.conflib import setting, shown_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "systemd"
SERVICES = ("gateway", "router", "delivery", "web")
INSTALLED = "/opt/simhost/bin/simhost"
COMMENTED_KEY_RE = re.compile(r"^#([a-z_]+ = .*)$", re.MULTILINE)


def directives(service: str) -> list[tuple[str, str]]:
    lines = (EXAMPLES / f"simhost-{service}.service").read_text().splitlines()
    return [(k, v) for k, _, v in (line.partition("=") for line in lines if "=" in line and line[0] != "#")]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify wants ExecStart's program to exist: this checkout's simhost stands in for the installed one
    simhost = str(Path(sys.executable).parent / "simhost")
    for service in SERVICES:
        unit = EXAMPLES / f"simhost-{service}.service"
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, simhost))
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    proc = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60,
                          check=False)
    complaints = [line for line in proc.stderr.splitlines() if "simhost-" in line]
    assert proc.returncode == 0, proc.stderr
    assert not complaints, proc.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_each_unit_runs_its_service_as_simhost_and_only_the_gateway_joins_dialout(service: str) -> None:
    found = directives(service)
    assert ("ExecStart", f"{INSTALLED} --config /etc/simhost/simhost.toml run --only {service}") in found
    assert ("User", "simhost") in found
    assert (("SupplementaryGroups", "dialout") in found) == (service == "gateway")
    for wanted in (("ProtectSystem", "strict"), ("StateDirectory", "simhost"), ("ConfigurationDirectory", "simhost"),
                   ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
                   ("Restart", "on-failure"), ("EnvironmentFile", "-/etc/simhost/simhost.env")):
        assert wanted in found, wanted
    assert "RestrictAddressFamilies" in dict(found)


def test_the_example_config_loads() -> None:
    path = str(EXAMPLES / "simhost.toml.example")
    result = ok("--config", path, "config", "show")
    assert result.stderr == ""
    assert setting(shown_settings("--config", path), "database.url") == (
        "sqlite:////var/lib/simhost/simhost.db", f"file {path}")


def test_the_example_config_names_every_setting_with_a_valid_value() -> None:
    text = (EXAMPLES / "simhost.toml.example").read_text()
    document = tomllib.loads(COMMENTED_KEY_RE.sub(r"\1", text))
    found: dict[str, object] = {}
    for name, value in document.items():
        found.update({f"{name}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {name: value})
    assert sorted(found) == sorted(BY_KEY)
    for key, value in found.items():
        BY_KEY[key].kind.check(value)
