"""`simhost udev`: the rules shipped in udev/ and the stable-name scan over a virtual bank's links."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from hwsim import Bank
from simhost.cli import main
from simhost.db import upgrade

REPO = Path(__file__).resolve().parents[2]


def test_rules_are_the_shipped_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["udev", "rules"])
    assert result.exit_code == 0, result.output
    assert result.output == (REPO / "udev" / "99-simhost.rules").read_text()
    assert 'SYMLINK+="simhost/$env{ID_PATH}-if$env{ID_USB_INTERFACE_NUM}"' in result.output
    out = tmp_path / "rules"
    assert CliRunner().invoke(main, ["udev", "rules", "--out", str(out)]).exit_code == 0
    assert out.read_text() == result.output


def test_ports_lists_links_and_flags_ttyusb_names(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    upgrade(db)
    bank = Bank(tmp_path / "bank", ports=2, profiles=("generic",), seed=1)
    bank.start()
    try:
        runner = CliRunner()
        first = bank.ports[0]
        assert runner.invoke(main, ["--db", db, "port", "add", "p1", "--url", first.path]).exit_code == 0
        assert runner.invoke(main, ["--db", db, "port", "add", "old", "--url", "/dev/ttyUSB7"]).exit_code == 0
        result = runner.invoke(main, ["--db", db, "udev", "ports", "--dev", str(tmp_path / "bank"), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        by_path = {d["path"]: d for d in data["devices"]}
        assert by_path[str(first.path)]["port"] == "p1"
        assert by_path[str(bank.ports[1].path)]["port"] is None
        assert by_path[str(first.path)]["device"].startswith("/dev/pts/")
        assert data["unstable_ports"] == ["old"]
    finally:
        bank.stop()
