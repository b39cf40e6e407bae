"""`simhost port scan` against virtual modems on ptys (registered, new, held by a gateway, silent), and the warning
of `simhost port add` for a device that is not there."""

from __future__ import annotations

import json
import os
import pty
import shlex
from pathlib import Path

from hwsim import Bank
from simhost.db import upgrade
from simhost_drivers.at.channel import AtChannel
from tests.cli.clilib import invoke
from tests.gateway.gwlib import GatewayProcess


def test_scan_tells_registered_new_busy_and_silent_ports(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, "mqtt://127.0.0.1:1")  # its database and command; no broker needed
    with Bank(tmp_path / "bank", ports=3, profiles=("generic", "sim800", "ec25"), seed=7) as bank:
        info = {p["name"]: p for p in bank.info["ports"]}
        paths = {m.name: str(m.path) for m in bank.ports}
        gw.add_port("first", paths["port01"])
        held = AtChannel.open(paths["port03"])  # opened as a running gateway opens it: locked
        master, slave = pty.openpty()  # nobody answers on this one
        silent = os.ttyname(slave)
        os.close(slave)
        try:
            out = gw.cli("port", "scan", "--json", *paths.values(), silent)
            text = gw.cli("port", "scan", *paths.values(), silent)
        finally:
            held.close()
            os.close(master)
        assert out.returncode == 0, out.stderr
        found = {p["path"]: p for p in json.loads(out.stdout)}

        first = found[paths["port01"]]
        assert first["outcome"] == "answers"
        assert first["registered_as"] == "first"
        assert first["add_command"] is None
        assert first["imei"] == info["port01"]["imei"]
        assert first["iccid"] == info["port01"]["slots"][0]["iccid"]

        new = found[paths["port02"]]
        assert (new["outcome"], new["registered_as"], new["driver"]) == ("answers", None, "simcom")
        assert new["manufacturer"] == "SIMCOM_Ltd"
        assert new["iccid"] == info["port02"]["slots"][0]["iccid"]
        assert new["imei"] == info["port02"]["imei"]

        busy = found[paths["port03"]]
        assert busy["outcome"] == "in use"
        assert "in use by a running gateway" in busy["error"]
        assert busy["iccid"] is None
        assert found[silent]["outcome"] == "no answer"
        assert found[silent]["add_command"] is None

        assert text.returncode == 0, text.stderr
        rows = {line.split()[0]: line for line in text.stdout.splitlines() if line.startswith("/")}
        assert "registered as first" in rows[paths["port01"]]
        assert info["port02"]["slots"][0]["iccid"] in rows[paths["port02"]]
        assert "in use by a running gateway" in rows[paths["port03"]]
        assert "no answer" in rows[silent]
        assert f"  {new['add_command']}" in text.stdout.splitlines()

        command = shlex.split(new["add_command"])
        assert command[0] == "simhost"
        added = gw.cli(*command[1:])
        assert added.returncode == 0, added.stderr
        assert added.stderr == ""
        listed = {p["name"]: p["url"] for p in json.loads(gw.cli("port", "list", "--json").stdout)}
        assert listed[command[3]] == paths["port02"]
        again = {p["path"]: p for p in json.loads(gw.cli("port", "scan", "--json", paths["port02"]).stdout)}
        assert again[paths["port02"]]["registered_as"] == command[3]


def test_port_add_warns_when_the_device_is_not_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/simhost.db"
    upgrade(url)
    env = {"SIMHOST_DB": url}
    missing = tmp_path / "ttyUSB9"
    result = invoke("port", "add", "p1", "--url", str(missing), env=env)
    assert result.exit_code == 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("warning: ")
    assert str(missing) in lines[0]
    present = tmp_path / "present"
    present.touch()
    for name, there in (("p2", str(present)), ("p3", "socket://127.0.0.1:9")):
        result = invoke("port", "add", name, "--url", there, env=env)
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
    listed = json.loads(invoke("port", "list", "--json", env=env).stdout)
    assert [p["name"] for p in listed] == ["p1", "p2", "p3"]
