"""The pages and the streams over plain HTTP: security headers, every string in both catalogues, a customer's
new messages on its stream only (ended when the server stops), the API keys' endpoints and the cookie rule."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simhost.web.pages import STATIC
from tests.web.weblib import Api, problem_of, serve


def _get(api: Api, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(api.server.host, api.server.port, timeout=10)
    conn.request("GET", path)
    return conn.getresponse()


def test_pages_are_served_with_a_strict_policy(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        home = _get(api, "/")
        assert (home.status, home.getheader("location")) == (303, "/account")
        for path in ("/signin", "/account", "/operator", "/static/account.js", "/static/i18n/ru.json"):
            r = _get(api, path)
            body = r.read()
            assert r.status == 200, path
            csp = r.getheader("content-security-policy") or ""
            assert "script-src 'self'" in csp, csp
            assert "unsafe-inline" not in csp
            assert r.getheader("x-content-type-options") == "nosniff"
            if path.endswith((".html", "account", "operator", "signin")):
                assert not re.search(rb"<script>|<style|\sstyle=|\son\w+=", body), path  # nothing inline
        assert "content-security-policy" in api.get("/session").headers  # the API's answers too


def test_every_string_is_in_both_catalogues() -> None:
    ru = json.loads((STATIC / "i18n" / "ru.json").read_text(encoding="utf-8"))
    en = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))
    assert set(ru) == set(en)
    used: set[str] = set()
    for path in STATIC.glob("*.*"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n(?:-placeholder|-label)?="([^"]+)"', text))
        used |= set(re.findall(r'\bt\("([a-z_.-]+)"[,)]', text))
    assert len(used) > 100
    assert not used - set(ru), sorted(used - set(ru))
    for key in ru:
        assert set(re.findall(r"\{\w+\}", ru[key])) == set(re.findall(r"\{\w+\}", en[key])), key


class Stream:
    """Reads server-sent events from a stream in a thread of its own."""

    def __init__(self, api: Api, path: str, key: str) -> None:
        self.conn = http.client.HTTPConnection(api.server.host, api.server.port, timeout=20)
        self.conn.request("GET", f"/api/v1{path}", headers={"Authorization": f"Bearer {api.keys[key]}"})
        self.reply = self.conn.getresponse()
        assert self.reply.status == 200
        assert self.reply.getheader("content-type", "").startswith("text/event-stream")
        self.events: list[tuple[str, str]] = []
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, name="sse-reader")
        self.thread.start()

    def _read(self) -> None:
        name = ""
        try:
            for raw in self.reply:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self.events.append((name, line[6:]))
        finally:
            self.ended.set()

    def wait(self, name: str, timeout_s: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [data for n, data in self.events if n == name]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {name} event: {self.events}")

    def close(self) -> None:
        self.ended.wait(10)
        self.thread.join(10)
        self.conn.close()


def test_message_stream_gives_each_customer_its_own_and_ends_when_the_server_stops(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        acme, beta = Stream(api, "/messages/stream", "acme"), Stream(api, "/messages/stream", "beta")
        try:
            acme.wait("ready")
            beta.wait("ready")
            now = datetime.now(UTC) - timedelta(seconds=1)
            api.message("new-acme", at=now, text="<b>hi</b>")
            api.message("new-beta", owner="beta", at=now)
            api.message("old", at=now - timedelta(days=3))
            got = json.loads(acme.wait("message")[0])
            assert (got["id"], got["text"], got["rule"]) == ("new-acme", "<b>hi</b>", "dedicated")
            assert [json.loads(d)["id"] for d in beta.wait("message")] == ["new-beta"]
            api.message("u1", status="unrouted", at=now - timedelta(days=3))
            assert api.call("POST", "/admin/unrouted/u1/assign", {"owner": "acme"}, key="ops").status == 200
            deadline = time.monotonic() + 5
            while len(acme.events) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [json.loads(d)["id"] for d in acme.wait("message")] == ["new-acme", "u1"]  # not "old"
            started = time.monotonic()
            api.server.stop()
            assert acme.ended.wait(5)
            assert beta.ended.wait(5)
            assert time.monotonic() - started < 5
        finally:
            acme.close()
            beta.close()


def test_port_stream_without_a_broker_says_so(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        problem_of(api.get("/admin/ports/stream", "acme"), 403)
        stream = Stream(api, "/admin/ports/stream", "ops")
        try:
            assert json.loads(stream.wait("broker")[0])["connected"] is False
            api.server.stop()
            assert stream.ended.wait(5)
        finally:
            stream.close()


def test_own_api_keys_and_the_cookie_rule(tmp_path: Path) -> None:
    with serve(tmp_path) as api:
        made = api.call("POST", "/keys", key="acme")
        assert made.status == 201, made.body
        whole, key_id = str(made.data["api_key"]), str(made.data["key_id"])
        assert api.get("/session", whole).data["name"] == "acme"
        listed = api.get("/keys", whole).json
        assert isinstance(listed, list)
        assert [k["key_id"] for k in listed][-1] == key_id
        assert all(k["api_key"] is None for k in listed)
        problem_of(api.call("DELETE", f"/keys/{key_id}", key="beta"), 404)  # not beta's
        assert api.call("DELETE", f"/keys/{key_id}", key="acme").status == 204
        assert api.get("/session", whole).status == 401
        signed = api.call("POST", "/session", {"login": "acme", "password": api.passwords["acme"]})
        cookie = signed.headers["set-cookie"].split(";")[0]
        assert problem_of(api.call("POST", "/keys", headers={"Cookie": cookie}), 403)["type"] == \
            "urn:simhost:problem:csrf"
        assert api.call("POST", "/keys", headers={"Cookie": cookie, "X-Requested-With": "fetch"}).status == 201
