"""`simhost run --only web` as a real process serves the API with a key made by `simhost owner apikey`, says
where it listens, and stops on SIGTERM; the key and operator commands."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.cli import clilib

SIMHOST = Path(sys.executable).parent / "simhost"


def test_run_only_web_serves_the_api_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    clilib.ok("--db", db, "db", "upgrade")
    clilib.ok("--db", db, "owner", "add", "acme")
    key = json.loads(clilib.ok("--db", db, "owner", "apikey", "acme", "--json").output)["api_key"]
    proc = subprocess.Popen([str(SIMHOST), "--db", db, "run", "--only", "web", "--http-listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.match(r"web: REST API at http://127\.0\.0\.1:(\d+)/api/v1 ", line)
        assert m, line
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
        conn.request("GET", "/api/v1/session", headers={"Authorization": f"Bearer {key}"})
        reply = conn.getresponse()
        assert (reply.status, json.loads(reply.read())["name"]) == (200, "acme")
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_key_and_operator_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    clilib.ok("--db", db, "db", "upgrade")
    clilib.ok("--db", db, "owner", "add", "acme")
    made = json.loads(clilib.ok("--db", db, "owner", "apikey", "acme", "--json").output)
    assert re.fullmatch(r"sk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", made["api_key"])
    listed = json.loads(clilib.ok("--db", db, "owner", "apikey", "acme", "--list", "--json").output)
    assert [(k["key_id"], k["revoked_at"]) for k in listed] == [(made["key_id"], None)]
    clilib.ok("--db", db, "owner", "apikey", "acme", "--revoke", made["key_id"])
    listed = json.loads(clilib.ok("--db", db, "owner", "apikey", "acme", "--list", "--json").output)
    assert listed[0]["revoked_at"] is not None
    assert "no API key 'nope'" in clilib.fails("--db", db, "owner", "apikey", "acme", "--revoke", "nope")
    assert "password" in json.loads(clilib.ok("--db", db, "operator", "add", "alice", "--json").output)
    assert "already exists" in clilib.fails("--db", db, "operator", "add", "alice")
    assert "api_key" in json.loads(clilib.ok("--db", db, "operator", "apikey", "alice", "--json").output)
    assert "no operator named 'bob'" in clilib.fails("--db", db, "operator", "apikey", "bob")
    web = json.loads(clilib.ok("--db", db, "owner", "password", "acme", "--web", "--json").output)
    assert set(web) == {"login", "web_password"}
