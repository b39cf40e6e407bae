"""`simhost slot pin|unpin` and what `slot list` says of rotation: the last time online, pinned, overdue; the
rotation settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update

from simhost.cli import main
from simhost.config import Settings, parse_switchers
from simhost.db import make_engine
from simhost.registry.models import SimSlot
from tests.registry.test_registry_cli import make_iccid
from tests.router.routerlib import cli

ROTATION_ON = {"SIMHOST_ROTATION_ONLINE_MIN": "10", "SIMHOST_ROTATION_EVERY_H": "6"}


def test_pin_unpin_and_the_list_of_slots(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/simhost.db"
    cli(db, "db", "upgrade")
    cli(db, "port", "add", "port01", "--url", "/dev/null")
    for k in (1, 2, 3):
        cli(db, "slot", "add", "--bank", "1", "--slot", str(k), "--iccid", make_iccid(k), "--msisdn",
            f"+7900000000{k}", "--kind", "shared", "--port", "port01")
    assert cli(db, "slot", "pin", "+79000000002") == "+79000000002 (bank 1 slot 2) pinned\n"
    assert "was pinned already" in cli(db, "slot", "pin", "+79000000002")
    engine = make_engine(db)
    with engine.begin() as c:
        c.execute(update(SimSlot).where(SimSlot.slot == 1)
                  .values(last_online_at=datetime.now(UTC) - timedelta(minutes=5)))
        c.execute(update(SimSlot).where(SimSlot.slot == 3)
                  .values(last_online_at=datetime.now(UTC) - timedelta(hours=7)))
    engine.dispose()
    listed = CliRunner().invoke(main, ["--db", db, "slot", "list", "--json"], env=ROTATION_ON)
    rows = {r["slot"]: r for r in json.loads(listed.output)}
    assert [(rows[k]["pinned"], rows[k]["overdue"], rows[k]["last_online_at"] is not None) for k in (1, 2, 3)] == [
        (False, False, True), (True, False, False), (False, True, True)]
    table = CliRunner().invoke(main, ["--db", db, "slot", "list"], env=ROTATION_ON).output.splitlines()
    assert table[0].split()[-3:] == ["LAST", "ONLINE", "ROTATION"]
    assert table[2].endswith("pinned")
    assert table[3].endswith("overdue")
    # rotation off: nothing is overdue
    off = CliRunner().invoke(main, ["--db", db, "slot", "list", "--json"], env={"SIMHOST_ROTATION_ONLINE_MIN": "0"})
    assert not any(r["overdue"] for r in json.loads(off.output))
    assert cli(db, "slot", "unpin", "+79000000002") == "+79000000002 (bank 1 slot 2) not pinned\n"
    assert "last online: never seen by the rotation" in cli(db, "slot", "show", "+79000000002")


def test_the_switcher_setting_takes_one_spec_or_a_table_by_bank(tmp_path: Path) -> None:
    path = tmp_path / "simhost.toml"
    path.write_text('[rotation]\nonline_min = 15\nswitcher = { default = "hwsim", 2 = "command:ctl {port} {slot}" }\n')
    settings = Settings.load(str(path), environ={}).settings
    assert settings.rotation_online_min == 15.0
    assert parse_switchers(settings.rotation_switcher) == ("hwsim", {2: "command:ctl {port} {slot}"})
    assert parse_switchers(Settings.load(environ={"SIMHOST_ROTATION_SWITCHER": "command:ctl {slot}"},
                                         files=False).settings.rotation_switcher) == ("command:ctl {slot}", {})
    bad = CliRunner().invoke(main, ["config", "show"], env={"SIMHOST_ROTATION_SWITCHER": "command:ctl {port}"})
    assert bad.exit_code != 0
    assert "SIMHOST_ROTATION_SWITCHER='command:ctl {port}': give none, hwsim" in bad.output
