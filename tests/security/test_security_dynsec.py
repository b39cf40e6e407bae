"""`simhost mqtt sync` against a real Mosquitto with the dynamic-security plugin: customers and services made,
confined (subscriptions checked, `$share` included), disabled, locked out and deleted as the registry says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from simhost.config import MqttTarget
from simhost.db import upgrade
from simhost.security.acl import ROUTER, customer_rules, render_acl, service_rules
from simhost.security.dynsec import RECEIVE, SEND, SUBSCRIBE, Current, role_acls
from simhost.security.dynsec_api import DynsecLink
from simhost.topics import Topics
from tests.brokerlib import PrivateBroker, dynsec_missing
from tests.cli.clilib import SIMHOST, fails, invoke, ok
from tests.security.test_security_acl import NOT_AUTHORIZED, Peer, accepted

PREFIX = "dyn"
T = Topics(PREFIX)
ADMIN = ("admin", "admin-secret")


class Site:
    """A registry, a broker with the plugin, the services dir, and the environment `simhost` runs with."""

    def __init__(self, broker: PrivateBroker, tmp: Path) -> None:
        self.broker = broker
        self.db = f"sqlite:///{tmp}/reg.db"
        upgrade(self.db)
        self.services_dir = tmp / "mqtt"
        admin_file = tmp / "admin.password"
        admin_file.write_text(ADMIN[1] + "\n")
        admin_file.chmod(0o600)
        self.env: dict[str, str | None] = {
            "SIMHOST_DB": self.db, "SIMHOST_MQTT": broker.url, "SIMHOST_TOPIC_PREFIX": PREFIX,
            "SIMHOST_DYNSEC_ADMIN": ADMIN[0], "SIMHOST_DYNSEC_ADMIN_PASSWORD_FILE": str(admin_file),
            "SIMHOST_MQTT_DYNSEC": None, "SIMHOST_CONFIG": None,
        }
        self.peers: list[Peer] = []

    def simhost(self, *args: str, dynsec_now: bool = False) -> str:
        env = dict(self.env, SIMHOST_MQTT_DYNSEC="1" if dynsec_now else None)
        return ok(*args, env=env).output

    def sync(self, *args: str) -> dict[str, object]:
        out = self.simhost("mqtt", "sync", "--services-dir", str(self.services_dir), "--json", *args)
        data = json.loads(out)
        assert isinstance(data, dict)
        return data

    def state(self) -> Current:
        with DynsecLink(MqttTarget("127.0.0.1", self.broker.port), *ADMIN) as link:
            return link.read_state()

    def services(self) -> dict[str, object]:
        data = json.loads((self.services_dir / "services.json").read_text())
        assert isinstance(data, dict)
        return data

    def peer(self, user: str, password: str) -> Peer:
        p = Peer(self.broker.port, user, password)
        self.peers.append(p)
        return p

    def service(self, user: str) -> Peer:
        passwords = self.services()["passwords"]
        assert isinstance(passwords, dict)
        return self.peer(user, passwords[user]).ready()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    why = dynsec_missing()
    if why:
        pytest.skip(why)
    broker = PrivateBroker(dynsec_admin=ADMIN)
    try:
        broker.start()
        s = Site(broker, tmp_path)
        yield s
        for p in s.peers:
            p.close()
    finally:
        broker.close()


def _changes(report: dict[str, object]) -> list[str]:
    changes = report["changes"]
    assert isinstance(changes, list)
    return [f"{c['action']} {c['target']}".strip() for c in changes]


def _noted(report: dict[str, object], words: str) -> bool:
    notices = report["notices"]
    assert isinstance(notices, list)
    return any(words in str(n) for n in notices)


def _password(output: str) -> str:
    return str(json.loads(output)["mqtt_password"])


def test_sync_makes_customers_and_services_and_keeps_customers_to_their_own_topics(site: Site) -> None:
    alice_pw = _password(site.simhost("owner", "add", "alice", "--json"))
    site.simhost("owner", "add", "bob", "--json")

    dry = site.sync("--dry-run")
    assert dry["dry_run"] is True
    assert dry["applied"] == 0
    assert {"create client alice", "create client bob", "create client router", "create role simhost-router",
            "create role simhost-customer-alice", "set default access"} <= set(_changes(dry))
    assert set(site.state().clients) == {"admin"}  # nothing changed, not even services.json written
    assert not (site.services_dir / "services.json").exists()

    done = site.sync()
    assert _changes(done) == _changes(dry)
    assert done["applied"] == len(_changes(dry))
    # the registry keeps hashes, which the plugin cannot take: sync says so instead of inventing passwords
    assert _noted(done, "alice has no MQTT password on the broker")
    assert site.peer("alice", alice_pw).connected().value == NOT_AUTHORIZED
    again = site.sync()
    assert again["changes"] == []

    # `owner password` with SIMHOST_MQTT_DYNSEC=1 hands the new password to the plugin at once
    alice_pw = _password(site.simhost("owner", "password", "alice", "--json", dynsec_now=True))
    bob_pw = _password(site.simhost("owner", "password", "bob", "--json", dynsec_now=True))
    assert site.sync()["changes"] == []

    alice = site.peer("alice", alice_pw).ready()
    assert [r.getName() for r in alice.try_subscribe(
        T.owner_messages("bob"), f"{PREFIX}/v1/owners/+/messages", "#", f"$share/{site.services()['router_group']}/"
        f"{T.inbound_all}", f"$share/spies/{T.inbound_all}", T.inbound_all, T.unrouted)] == ["Not authorized"] * 7
    alice.subscribe(f"{PREFIX}/v1/owners/alice/#")
    bob = site.peer("bob", bob_pw).ready().subscribe(T.owner_messages("bob"))
    group = site.services()["router_group"]
    router = site.service("router").subscribe(f"$share/{group}/{T.inbound_all}", f"$share/{group}/{T.owner_send_all}")
    assert site.service("router").try_subscribe(f"$share/another-group/{T.inbound_all}")[0].value == NOT_AUTHORIZED

    gateway = site.service("gateway")
    assert accepted(gateway.publish(T.inbound("port01"), "sms-1"))
    assert router.wait_for_payload(b"sms-1") == [(T.inbound("port01"), b"sms-1")]
    assert accepted(site.service("router").publish(T.owner_messages("bob"), "for-bob"))
    assert accepted(site.service("router").publish(T.owner_messages("alice"), "for-alice"))
    assert alice.wait_for_payload(b"for-alice") == [(T.owner_messages("alice"), b"for-alice")]
    assert bob.wait_for_payload(b"for-bob") == [(T.owner_messages("bob"), b"for-bob")]
    assert accepted(alice.publish(T.owner_send("alice"), "please send"))
    assert router.wait_for_payload(b"please send")[-1] == (T.owner_send("alice"), b"please send")
    for topic in (T.owner_send("bob"), T.send, T.sent, T.inbound("port01"), T.owner_messages("bob")):
        assert alice.publish(topic, "forged").value == NOT_AUTHORIZED, topic


def test_disabled_customer_is_dropped_and_refused_deleted_one_removed_stale_password_locked(site: Site) -> None:
    passwords = {login: _password(site.simhost("owner", "add", login, "--json", dynsec_now=True))
                 for login in ("carol", "dave", "erin")}
    site.sync()
    carol = site.peer("carol", passwords["carol"]).ready()
    erin = site.peer("erin", passwords["erin"]).ready()

    site.simhost("owner", "disable", "carol")
    with create_engine(site.db).begin() as conn:
        conn.execute(text("DELETE FROM customers WHERE login = 'dave'"))
    site.simhost("owner", "password", "erin")  # the registry's password changes, the broker is not told
    report = site.sync()
    assert sorted(_changes(report)) == ["delete client dave", "delete role simhost-customer-dave",
                                        "disable client carol", "modify client erin"]
    assert _noted(report, "erin has no MQTT password on the broker")

    # the plugin drops the connections of disabled clients and of clients it changed
    carol.wait_disconnected()
    erin.wait_disconnected()
    for login in ("carol", "dave", "erin"):
        assert site.peer(login, passwords[login]).connected().value == NOT_AUTHORIZED, login
    state = site.state()
    assert "dave" not in state.clients
    assert "simhost-customer-dave" not in state.roles
    assert state.clients["carol"].disabled
    assert site.sync()["changes"] == []

    # enabled again, with SIMHOST_MQTT_DYNSEC=1, carol logs in at once
    assert "enabled" in site.simhost("owner", "enable", "carol", dynsec_now=True)
    site.peer("carol", passwords["carol"]).ready()


def test_sync_prints_what_it_did_and_is_quiet_when_in_step(site: Site) -> None:
    site.simhost("owner", "add", "fred")
    args = ("mqtt", "sync", "--services-dir", str(site.services_dir))
    out = site.simhost(*args, "--dry-run")
    assert "would create client fred: customer, role simhost-customer-fred, no password" in out
    assert out.strip().endswith("change(s) listed, none made")
    assert "change(s) made" in site.simhost(*args)
    assert "in step with the registry: nothing to change" in site.simhost(*args)


def test_bad_admin_password_and_missing_one_are_one_line_errors(site: Site, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-it")
    wrong.chmod(0o600)
    args = ("mqtt", "sync", "--services-dir", str(site.services_dir))
    line = fails(*args, "--admin-password-file", str(wrong), env=site.env)
    assert "refused the dynamic-security admin 'admin': Not authorized" in line
    line = fails(*args, env=dict(site.env, SIMHOST_DYNSEC_ADMIN_PASSWORD_FILE=None))
    assert "--admin-password-file" in line
    line = fails(*args, env=dict(site.env, SIMHOST_MQTT="mqtt://127.0.0.1:1"))
    assert "cannot reach the MQTT broker at mqtt://127.0.0.1:1" in line
    # a customer change stands when the broker cannot be told, with a warning saying what to do
    result = invoke("owner", "add", "gina", env=dict(site.env, SIMHOST_MQTT_DYNSEC="1",
                                                     SIMHOST_DYNSEC_ADMIN_PASSWORD_FILE=str(wrong)))
    assert result.exit_code == 0, result.output
    assert "warning: the broker's dynamic-security plugin was not updated" in result.stderr
    assert "password (shown only now)" in result.stdout


def test_file_acl_and_plugin_roles_come_from_one_table() -> None:
    rules = service_rules("sh")
    router = role_acls(rules[ROUTER], "g1")
    assert {a.topic for a in router if a.acltype == SUBSCRIBE and a.topic.startswith("$share/")} == {
        f"$share/g1/{r.topic}" for r in rules[ROUTER] if r.shared}
    file_lines = set(render_acl("sh", []).split("user router\n")[1].split("\n\n")[0].splitlines())
    assert file_lines == {f"topic {r.access} {r.topic}" for r in rules[ROUTER]}
    assert {(a.acltype, a.topic) for a in router if a.acltype in (SEND, RECEIVE)} == {
        (SEND if r.access == "write" else RECEIVE, r.topic) for r in rules[ROUTER]}
    customer = role_acls(customer_rules("sh", "alice"), None)
    assert not any(a.topic.startswith("$") for a in customer)
    assert {(a.acltype, a.topic) for a in customer} == {
        (RECEIVE, "sh/v1/owners/alice/#"), (SUBSCRIBE, "sh/v1/owners/alice/#"),
        (SEND, "sh/v1/owners/alice/send"), (SEND, "sh/v1/owners/alice/sent")}


def test_router_with_another_group_is_refused_and_says_so(site: Site, tmp_path: Path) -> None:
    site.sync()
    passwords = site.services()["passwords"]
    assert isinstance(passwords, dict)
    watcher = site.service("operator").subscribe(T.router_status("+"))
    env = dict(os.environ, **{k: v for k, v in site.env.items() if v is not None})
    env.update(SIMHOST_MQTT=f"mqtt://router@127.0.0.1:{site.broker.port}", SIMHOST_MQTT_PASSWORD=passwords["router"])
    env.pop("SIMHOST_CONFIG", None)
    proc = subprocess.Popen([str(SIMHOST), "run", "--only", "router", "--router-group", "guessed", "--router-id", "r9"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        watcher.wait_for_payload(b'{"state": "online", "router": "r9", "group": "guessed"}', timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert f"the broker refused the subscription(s) $share/guessed/{T.inbound_all}" in err.decode()
