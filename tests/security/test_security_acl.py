"""Broker access control: the written passwd/acl files enforced by a real Mosquitto, and `simhost mqtt acl`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import text

from simhost.commands.mqtt import _default_broker_user, mqtt
from simhost.config import Settings
from simhost.db import make_engine, make_sessions, upgrade
from simhost.security.acl import (
    AclError,
    ServiceCredentials,
    WrittenFiles,
    render_acl,
    render_passwd,
    write_acl_files,
)
from simhost.security.mqttauth import ITERATIONS, check_password, hash_password
from simhost.topics import Topics
from tests.brokerlib import PrivateBroker

PREFIX = "acltest"
T = Topics(PREFIX)
WAIT_S = 5.0
NOT_AUTHORIZED = 135  # MQTT v5 reason code, in CONNACK and PUBACK alike
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


def accepted(reason: ReasonCode) -> bool:
    """A PUBACK that is not a refusal (`No matching subscribers` counts as accepted)."""
    return not reason.is_failure


class Peer:
    """One authenticated MQTT v5 client; every broker answer is kept and waited on with a timeout."""

    def __init__(self, port: int, user: str | None, password: str | None,
                 *, will: tuple[str, str] | None = None) -> None:
        self._cond = threading.Condition()
        self.connack: ReasonCode | None = None
        self.messages: list[tuple[str, bytes]] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.disconnects: list[ReasonCode] = []
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=f"acl-{user}-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5)
        if user is not None:
            self.client.username_pw_set(user, password)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            client.disconnect()  # no reconnect attempts: a refusal is the answer we wait for
        with self._cond:
            self.connack = reason
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            self.pubacks[mid] = reason
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self.subacks[mid] = reasons
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            self.disconnects.append(reason)
            self._cond.notify_all()

    def wait_disconnected(self) -> ReasonCode:
        """The reason of the first time the broker dropped the connection."""
        self._wait(lambda: bool(self.disconnects), "the connection to drop")
        return self.disconnects[0]

    def _wait(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out waiting for {what}")

    def connected(self) -> ReasonCode:
        self._wait(lambda: self.connack is not None, "CONNACK")
        assert self.connack is not None
        return self.connack

    def ready(self) -> Peer:
        reason = self.connected()
        assert not reason.is_failure, f"connection refused: {reason}"
        return self

    def try_subscribe(self, *topics: str) -> list[ReasonCode]:
        """The broker's answer to subscribing to `topics`, one reason code each, granted or refused."""
        _rc, mid = self.client.subscribe([(t, 1) for t in topics])
        assert mid is not None
        self._wait(lambda: mid in self.subacks, "SUBACK")
        return self.subacks[mid]

    def subscribe(self, *topics: str) -> Peer:
        reasons = self.try_subscribe(*topics)
        assert all(not r.is_failure for r in reasons), reasons
        return self

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self._wait(lambda: info.mid in self.pubacks, f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def wait_for_payload(self, payload: bytes, timeout: float = WAIT_S) -> list[tuple[str, bytes]]:
        """Everything received up to and including `payload` (broker order is publish order)."""
        self._wait(lambda: any(p == payload for _t, p in self.messages), f"message {payload!r}", timeout)
        with self._cond:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _broker_dir() -> Path:
    # Mosquitto started as root reads its files as the mosquitto user, so the directory must be traversable.
    d = Path(tempfile.mkdtemp(prefix="simhost-acl-"))
    os.chmod(d, 0o755)
    return d


def _customers() -> list[tuple[str, str | None, bool]]:
    return [
        ("alice", hash_password(PASSWORDS["alice"]), True),
        ("bob", hash_password(PASSWORDS["bob"]), True),
        ("carol", hash_password(PASSWORDS["carol"]), False),  # disabled
        ("dave", None, True),  # no MQTT password
    ]


def _start_broker(files: WrittenFiles) -> PrivateBroker:
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        pytest.skip("mosquitto is not installed (scripts/setup.sh installs it)")
    broker = PrivateBroker(extra_config=files.snippet.read_text())
    try:
        broker.start()
    except BaseException:
        broker.close()
        raise
    return broker


class Secured:
    def __init__(self, broker: PrivateBroker, files: WrittenFiles) -> None:
        self.broker = broker
        self.files = files
        self.services = files.credentials.passwords
        self.group = files.credentials.router_group
        self.peers: list[Peer] = []

    def peer(self, user: str | None, password: str | None = None, **kw: Any) -> Peer:
        if password is None and user is not None:
            password = PASSWORDS.get(user) or self.services[user]
        p = Peer(self.broker.port, user, password, **kw)
        self.peers.append(p)
        return p


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    out = _broker_dir()
    try:
        files = write_acl_files(out, PREFIX, _customers(), broker_user=_default_broker_user())
        broker = _start_broker(files)
        try:
            yield Secured(broker, files)
        finally:
            broker.close()
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def net(secured: Secured) -> Iterator[Secured]:
    yield secured
    for p in secured.peers:
        p.close()
    secured.peers.clear()


# ---- against a real Mosquitto -------------------------------------------------------------------------


def test_customer_receives_only_her_own_messages(net: Secured) -> None:
    by_owners = net.peer("alice").ready().subscribe(f"{PREFIX}/v1/owners/#")
    by_all = net.peer("alice").ready().subscribe("#")
    bob = net.peer("bob").ready().subscribe(f"{PREFIX}/v1/owners/#")
    router = net.peer("router").ready()
    assert accepted(router.publish(T.owner_messages("bob"), "for-bob"))
    assert accepted(router.publish(T.owner_messages("alice"), "for-alice"))
    for alice in (by_owners, by_all):
        assert alice.wait_for_payload(b"for-alice") == [(T.owner_messages("alice"), b"for-alice")]
    # bob's arrived before alice's was published, so bob's subscription saw it first
    assert bob.wait_for_payload(b"for-bob")[0] == (T.owner_messages("bob"), b"for-bob")
    assert (T.owner_messages("alice"), b"for-alice") not in bob.messages


def test_customer_cannot_publish_inbound_or_owner_messages(net: Secured) -> None:
    router = net.peer("router").ready().subscribe(f"$share/{net.group}/{T.inbound_all}")
    bob = net.peer("bob").ready().subscribe(f"{PREFIX}/v1/owners/#")
    alice = net.peer("alice").ready()
    forged = alice.publish(T.inbound("port01"), '{"forged": true}')
    assert forged.is_failure
    assert forged.value == NOT_AUTHORIZED
    assert forged.getName() == "Not authorized"
    assert alice.publish(T.owner_messages("bob"), "forged-for-bob").value == NOT_AUTHORIZED
    assert alice.publish(T.unrouted, "forged-unrouted").value == NOT_AUTHORIZED
    assert alice.publish(T.port_status("port01"), "{}").value == NOT_AUTHORIZED
    gateway = net.peer("gateway").ready()
    assert accepted(gateway.publish(T.inbound("port01"), "genuine"))
    assert accepted(net.peer("router").ready().publish(T.owner_messages("bob"), "genuine-for-bob"))
    assert router.wait_for_payload(b"genuine") == [(T.inbound("port01"), b"genuine")]
    assert bob.wait_for_payload(b"genuine-for-bob") == [(T.owner_messages("bob"), b"genuine-for-bob")]


def test_only_routers_confirm_messages_to_gateways(net: Secured) -> None:
    gateway = net.peer("gateway").ready().subscribe(T.acks_all)
    for forger in ("alice", "gateway", "reporter"):
        assert net.peer(forger).ready().publish(T.acks("port01"), '{"ids": ["forged"]}').value == NOT_AUTHORIZED
    assert accepted(net.peer("router").ready().publish(T.acks("port01"), '{"ids": ["genuine"]}'))
    assert gateway.wait_for_payload(b'{"ids": ["genuine"]}') == [(T.acks("port01"), b'{"ids": ["genuine"]}')]
    assert all(b"forged" not in payload for _topic, payload in gateway.messages)


def test_only_operators_ask_for_ussd_and_only_gateways_answer(net: Secured) -> None:
    request = b'{"id": "r1", "code": "*100#"}'
    gateway = net.peer("gateway").ready().subscribe(T.ussd_requests_all)
    operator = net.peer("operator").ready().subscribe(T.ussd_answer("port01", "+"))
    for forger in ("alice", "router", "sender", "reporter", "gateway"):
        assert net.peer(forger).ready().publish(T.ussd_request("port01"), '{"id": "x", "code": "*100#"}').value \
            == NOT_AUTHORIZED, forger
    assert accepted(operator.publish(T.ussd_request("port01"), request.decode()))
    assert gateway.wait_for_payload(request) == [(T.ussd_request("port01"), request)]
    assert net.peer("alice").ready().publish(T.ussd_answer("port01", "r1"), "forged").value == NOT_AUTHORIZED
    assert accepted(gateway.publish(T.ussd_answer("port01", "r1"), "answered"))
    assert operator.wait_for_payload(b"answered") == [(T.ussd_answer("port01", "r1"), b"answered")]


def test_wrong_password_disabled_unknown_and_anonymous_are_refused(net: Secured) -> None:
    attempts = {
        "wrong password": net.peer("alice", "not-her-password"),
        "disabled customer": net.peer("carol"),
        "customer without an MQTT password": net.peer("dave", "anything"),
        "unknown user": net.peer("mallory", "x"),
        "service account, wrong password": net.peer("router", "guess"),
        "anonymous": net.peer(None),
    }
    for what, peer in attempts.items():
        reason = peer.connected()
        assert reason.value == NOT_AUTHORIZED, f"{what}: {reason}"


def test_gateway_publishes_and_router_receives_through_shared_subscription(net: Secured) -> None:
    router = net.peer("router").ready().subscribe(
        f"$share/{net.group}/{T.inbound_all}", f"$share/{net.group}/{T.sent}", f"{PREFIX}/v1/gateways/+/status")
    spy = net.peer("alice").ready().subscribe(f"$share/spies/{T.inbound_all}", f"{PREFIX}/v1/gateways/+/status")
    will = (T.gateway_status("gw1"), '{"state": "offline"}')
    gateway = net.peer("gateway", will=will).ready()
    assert accepted(gateway.publish(T.gateway_status("gw1"), '{"state": "online"}', retain=True))
    assert accepted(gateway.publish(T.port_status("port01"), '{"state": "ready"}', retain=True))
    assert accepted(gateway.publish(T.inbound("port01"), "sms-1"))
    got = router.wait_for_payload(b"sms-1")
    assert (T.gateway_status("gw1"), b'{"state": "online"}') in got
    assert got[-1] == (T.inbound("port01"), b"sms-1")
    # the router keeps port statuses (a dead gateway's ports become offline) and routes to owners
    assert accepted(router.publish(T.port_status("port01"), '{"state": "offline"}', retain=True))
    assert accepted(router.publish(T.unrouted, "unassigned"))
    alice = net.peer("alice").ready().subscribe(T.owner_messages("alice"))
    assert accepted(router.publish(T.owner_messages("alice"), "done"))
    alice.wait_for_payload(b"done")
    assert spy.messages == []
    assert accepted(gateway.publish(T.gateway_status("gw1"), "", retain=True))
    assert accepted(gateway.publish(T.port_status("port01"), "", retain=True))


def test_customer_may_publish_send_and_its_own_sent_only(net: Secured) -> None:
    router = net.peer("router").ready().subscribe(f"$share/{net.group}/{T.sent}",
                                                  f"$share/{net.group}/{T.owner_sent_all}",
                                                  f"$share/{net.group}/{T.send}",
                                                  f"$share/{net.group}/{T.owner_send_all}")
    alice = net.peer("alice").ready()
    report = '{"from": "+79000000001", "to": "+79001234567"}'
    assert accepted(alice.publish(T.owner_send("alice"), '{"to": "+79001234567", "text": "hi"}'))
    assert accepted(alice.publish(T.owner_sent("alice"), report))
    assert router.wait_for_payload(report.encode())[:2] == [
        (T.owner_send("alice"), b'{"to": "+79001234567", "text": "hi"}'), (T.owner_sent("alice"), report.encode())]
    # a send request naming any customer is for other systems (the sender account), not customers
    assert alice.publish(T.send, '{"owner": "bob", "to": "+7", "text": "x"}').value == NOT_AUTHORIZED
    assert alice.publish(T.owner_send("bob"), '{"to": "+7", "text": "x"}').value == NOT_AUTHORIZED
    sender = net.peer("sender").ready()
    assert accepted(sender.publish(T.send, '{"owner": "bob", "to": "+79001234567", "text": "by sender"}'))
    by_sender = b'{"owner": "bob", "to": "+79001234567", "text": "by sender"}'
    assert router.wait_for_payload(by_sender)[-1] == (T.send, by_sender)
    # naming any customer on the shared topic, or publishing as another one, is refused
    assert alice.publish(T.sent, '{"from": "+7", "to": "+7", "owner": "bob"}').value == NOT_AUTHORIZED
    assert alice.publish(T.owner_sent("bob"), report).value == NOT_AUTHORIZED
    # the reporter account (another system) reports sends for anyone, on the shared topic only
    reporter = net.peer("reporter").ready()
    assert accepted(reporter.publish(T.sent, '{"from": "+79000000002", "to": "+7", "owner": "bob"}'))
    assert router.wait_for_payload(b'{"from": "+79000000002", "to": "+7", "owner": "bob"}')[-1][0] == T.sent
    assert reporter.publish(T.inbound("port01"), "x").value == NOT_AUTHORIZED
    # and nothing else of the services' traffic: a customer cannot read what others send
    bob = net.peer("bob").ready().subscribe(T.send, T.sent, T.owner_messages("bob"), T.owner_sent("alice"))
    assert accepted(alice.publish(T.owner_send("alice"), "alice-again"))
    assert accepted(alice.publish(T.owner_sent("alice"), "alice-sent-again"))
    assert accepted(net.peer("router").ready().publish(T.owner_messages("bob"), "marker"))
    assert bob.wait_for_payload(b"marker") == [(T.owner_messages("bob"), b"marker")]


@pytest.mark.parametrize("way", ["file", "env", "url"])
def test_router_logs_in_with_a_password_kept_off_its_command_line(net: Secured, tmp_path: Path, way: str) -> None:
    """`simhost run` as the router account, its password from --mqtt-password-file (with the trailing
    newline an editor leaves), from SIMHOST_MQTT_PASSWORD, or (discouraged) in the URL."""
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    password = net.services["router"]
    router_id = f"pw-{way}-{uuid.uuid4().hex[:6]}"
    online = json.dumps({"state": "online", "router": router_id, "group": net.group}).encode()
    watcher = net.peer("operator").ready().subscribe(T.router_status(router_id))
    broker = f"127.0.0.1:{net.broker.port}"
    env = dict(os.environ, SIMHOST_DB=url, SIMHOST_TOPIC_PREFIX=PREFIX, SIMHOST_MQTT=f"mqtt://router@{broker}")
    args = []
    if way == "file":
        secret = tmp_path / "router.password"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, f"{password}\n".encode())
        os.close(fd)
        args = ["--mqtt-password-file", str(secret)]
    elif way == "env":
        env["SIMHOST_MQTT_PASSWORD"] = password
    else:  # where the README used to put it, for every local user to read in /proc/PID/cmdline
        args = ["--mqtt", f"mqtt://router:{password}@{broker}"]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "simhost"), *args, "run", "--only", "router",
                             "--router-group", net.group, "--router-id", router_id],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        watcher.wait_for_payload(online, timeout=60)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert (password.encode() in cmdline) == (way == "url")
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert password.encode() not in err


def test_operator_reads_everything_and_writes_nothing(net: Secured) -> None:
    operator = net.peer("operator").ready().subscribe(f"{PREFIX}/#")
    router = net.peer("router").ready()
    assert accepted(router.publish(T.owner_messages("alice"), "a"))
    assert accepted(router.publish(T.unrouted, "u"))
    assert accepted(net.peer("gateway").ready().publish(T.inbound("port02"), "i"))
    topics = [t for t, _p in operator.wait_for_payload(b"i")]
    assert topics[-3:] == [T.owner_messages("alice"), T.unrouted, T.inbound("port02")]
    assert operator.publish(T.inbound("port02"), "x").value == NOT_AUTHORIZED
    assert operator.publish(T.owner_messages("alice"), "x").value == NOT_AUTHORIZED


def test_disabling_a_customer_takes_effect_on_broker_reload() -> None:
    out = _broker_dir()
    broker_user = _default_broker_user()
    try:
        files = write_acl_files(out, PREFIX, _customers(), broker_user=broker_user)
        broker = _start_broker(files)
        peers: list[Peer] = []
        try:
            peers.append(Peer(broker.port, "alice", PASSWORDS["alice"]).ready())
            again = [(login, h, enabled and login != "alice") for login, h, enabled in _customers()]
            write_acl_files(out, PREFIX, again, broker_user=broker_user)
            assert broker.proc is not None
            broker.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + WAIT_S
            refused = False
            while not refused and time.monotonic() < deadline:
                attempt = Peer(broker.port, "alice", PASSWORDS["alice"])
                peers.append(attempt)
                refused = attempt.connected().is_failure
            assert refused, "alice could still connect after the reload"
            # service passwords were kept, so the services reconnect after the reload
            peers.append(Peer(broker.port, "router", files.credentials.passwords["router"]).ready())
        finally:
            for p in peers:
                p.close()
            broker.close()
    finally:
        shutil.rmtree(out, ignore_errors=True)


# ---- the files themselves -------------------------------------------------------------------------------


def test_acl_grants_each_account_only_its_topics() -> None:
    acl = render_acl("sh", ["bob", "alice"])
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in acl.splitlines():
        if line.startswith("user "):
            current = blocks.setdefault(line, [])
        elif line.startswith("topic "):
            current.append(line)
    assert blocks["user alice"] == [
        "topic read sh/v1/owners/alice/#", "topic write sh/v1/owners/alice/send",
        "topic write sh/v1/owners/alice/sent"]
    assert blocks["user reporter"] == ["topic write sh/v1/sent"]
    assert blocks["user sender"] == ["topic write sh/v1/send"]
    assert "topic read sh/v1/owners/+/sent" in blocks["user router"]
    assert blocks["user bob"][0] == "topic read sh/v1/owners/bob/#"
    assert blocks["user operator"] == ["topic read sh/#", "topic write sh/v1/ports/+/ussd"]
    assert "topic write sh/v1/gateways/+/status" in blocks["user gateway"]
    assert "topic read sh/v1/ports/+/ussd" in blocks["user gateway"]
    assert "topic write sh/v1/ports/+/ussd/+" in blocks["user gateway"]
    assert "topic write sh/v1/inbound/+" in blocks["user gateway"]
    assert "topic read sh/v1/inbound/#" in blocks["user router"]
    assert set(blocks) == {"user alice", "user bob", "user gateway", "user router", "user operator", "user reporter",
                           "user sender"}
    assert not any(line.startswith(("topic", "pattern")) for line in acl.split("\nuser ")[0].splitlines())


@pytest.mark.parametrize("login", ["a/b", "a+", "#", "with space", "co:lon", "$sys", ""])
def test_logins_that_would_break_the_files_are_rejected(login: str) -> None:
    with pytest.raises(AclError):
        render_acl("sh", [login])


def test_customer_named_like_a_service_and_bad_prefix_are_rejected() -> None:
    with pytest.raises(AclError, match="router service account"):
        render_acl("sh", ["router"])
    for prefix in ("", "a/+/b", "$SYS", "a//b", "x y"):
        with pytest.raises(AclError):
            render_acl(prefix, ["alice"])


def test_password_hashes_are_slow_to_guess_and_old_ones_still_check() -> None:
    hashed = hash_password("pw")
    assert hashed.startswith(f"$7${ITERATIONS}$")
    assert ITERATIONS >= 20_000  # mosquitto_passwd's 101 lets a stolen passwd file be guessed 200 times faster
    assert check_password("pw", hashed)
    assert not check_password("pw!", hashed)
    # Mosquitto (and check_password) read the count from each hash: hashes made before still work
    assert check_password("pw", hash_password("pw", iterations=101))


def test_customer_with_an_old_101_iteration_hash_still_logs_in() -> None:
    out = _broker_dir()
    files = write_acl_files(out, PREFIX, [("olga", hash_password("olga-pw", iterations=101), True)],
                            broker_user=_default_broker_user())
    broker = _start_broker(files)
    peers: list[Peer] = []
    try:
        peers.append(Peer(broker.port, "olga", "olga-pw"))
        peers[-1].ready()
        peers.append(Peer(broker.port, "gateway", files.credentials.passwords["gateway"]))
        peers[-1].ready()
        peers.append(Peer(broker.port, "olga", "wrong"))
        assert peers[-1].connected().value == NOT_AUTHORIZED
    finally:
        for p in peers:
            p.close()
        broker.close()
        shutil.rmtree(out, ignore_errors=True)


def test_passwd_lines_and_hashes() -> None:
    h = hash_password("pw")
    assert render_passwd({"bob": h, "alice": h}) == f"alice:{h}\nbob:{h}\n"
    with pytest.raises(AclError):
        render_passwd({"alice": "plaintext"})


def test_service_passwords_are_made_once_and_kept_private(tmp_path: Path) -> None:
    files = write_acl_files(tmp_path, "sh", _customers())
    first = json.loads(files.services.read_text())
    assert set(first["passwords"]) == {"gateway", "router", "operator", "reporter", "sender"}
    for f in (files.services, files.passwd, files.acl):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert files.customers == ("alice", "bob")
    assert files.left_out == ("carol", "dave")
    users = dict(line.split(":", 1) for line in files.passwd.read_text().splitlines())
    assert set(users) == {"alice", "bob", "gateway", "router", "operator", "reporter", "sender"}
    assert check_password(first["passwords"]["router"], users["router"])
    assert check_password(PASSWORDS["alice"], users["alice"])
    assert f"password_file {tmp_path.resolve()}/passwd" in files.snippet.read_text()
    assert "allow_anonymous false" in files.snippet.read_text()

    # a services.json from before an account existed gets it added, the other passwords kept
    older = {"passwords": {k: v for k, v in first["passwords"].items() if k != "reporter"},
             "router_group": first["router_group"]}
    files.services.write_text(json.dumps(older))
    filled = json.loads(write_acl_files(tmp_path, "sh", _customers()).services.read_text())
    assert {k: v for k, v in filled["passwords"].items() if k != "reporter"} == older["passwords"]
    assert filled["passwords"]["reporter"]
    first = filled

    os.chmod(files.services, 0o644)
    again = write_acl_files(tmp_path, "sh", [])
    assert json.loads(again.services.read_text()) == first
    assert again.credentials == ServiceCredentials.load_or_create(tmp_path)
    assert stat.S_IMODE(again.services.stat().st_mode) == 0o600
    assert again.customers == ()
    assert "alice" not in again.passwd.read_text()


def test_secret_files_are_created_private_whatever_lies_in_the_way(tmp_path: Path) -> None:
    """A stale temporary file from a crashed run, or a symlink planted in its place, never receives the
    secrets: each file is created afresh, mode 0600 from its first byte, under the usual umask."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("")
    elsewhere.chmod(0o644)
    out = tmp_path / "mqtt"
    out.mkdir()
    (out / ".passwd.tmp").symlink_to(elsewhere)
    (out / ".services.json.tmp").write_text("stale")
    (out / ".services.json.tmp").chmod(0o644)
    os.link(out / ".services.json.tmp", tmp_path / "hardlink")
    old = os.umask(0o022)
    try:
        files = write_acl_files(out, "sh", _customers())
    finally:
        os.umask(old)
    assert elsewhere.read_text() == ""
    assert (tmp_path / "hardlink").read_text() == "stale"
    for f in (files.services, files.passwd, files.acl):
        assert not f.is_symlink(), f
        assert stat.S_IMODE(f.lstat().st_mode) == 0o600, f
    assert "gateway:$7$" in files.passwd.read_text()
    assert sorted(p.name for p in out.iterdir()) == ["acl", "mosquitto.conf.snippet", "passwd", "services.json"]


def test_simhost_mqtt_acl_from_a_shell_writes_secrets_0600(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade(url)
    env = dict(os.environ, SIMHOST_DB=url)
    simhost = str(Path(sys.executable).parent / "simhost")
    subprocess.run([simhost, "owner", "add", "alice"], env=env, check=True, capture_output=True)
    # the shell's usual umask: without care every file would come out world-readable
    done = subprocess.run(["sh", "-c", 'umask 022 && exec "$0" mqtt acl --out "$1" --broker-user ""', simhost,
                           str(tmp_path / "mqtt")], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in (tmp_path / "mqtt").iterdir()}
    assert modes == {"passwd": 0o600, "acl": 0o600, "services.json": 0o600, "mosquitto.conf.snippet": 0o644}
    assert stat.S_IMODE((tmp_path / "s.db").stat().st_mode) == 0o600


def test_unreadable_services_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "services.json").write_text('{"gateway": "x"}')
    with pytest.raises(AclError, match="not what `simhost mqtt acl` writes"):
        write_acl_files(tmp_path, "sh", [])


# ---- the command ----------------------------------------------------------------------------------------


class PlainContext:
    """What the CLI puts in ctx.obj, on a database left exactly as the test made it."""

    def __init__(self, db_url: str) -> None:
        self.settings = Settings(db_url=db_url, topic_prefix="cli")
        self.engine = make_engine(db_url)

    def sessions(self) -> Any:
        return make_sessions(self.engine)


def _invoke(obj: PlainContext, *args: str) -> Any:
    result = CliRunner().invoke(mqtt, list(args), obj=obj)
    obj.engine.dispose()
    return result


def test_command_writes_files_from_the_customers_table(tmp_path: Path) -> None:
    obj = PlainContext(f"sqlite:///{tmp_path}/reg.db")
    with obj.engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (login TEXT PRIMARY KEY, enabled BOOLEAN, "
                          "mqtt_password_hash TEXT, name TEXT)"))
        conn.execute(text("INSERT INTO customers VALUES (:l, :e, :h, 'x')"), [
            {"l": "alice", "e": True, "h": hash_password("a")},
            {"l": "bob", "e": False, "h": hash_password("b")},
            {"l": "carol", "e": True, "h": None},
        ])
    out = tmp_path / "mqtt"
    result = _invoke(obj, "acl", "--out", str(out), "--broker-user", "", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["customers"] == ["alice"]
    assert summary["left_out"] == ["bob", "carol"]
    assert summary["router_group"].startswith("routers-")
    assert "topic read cli/v1/owners/alice/#" in (out / "acl").read_text()
    assert "user bob" not in (out / "acl").read_text()
    result = _invoke(obj, "acl", "--out", str(out), "--broker-user", "")
    assert result.exit_code == 0, result.output
    assert f"--router-group {summary['router_group']}" in result.output


def test_command_without_customers_table_says_to_upgrade(tmp_path: Path) -> None:
    obj = PlainContext(f"sqlite:///{tmp_path}/empty.db")
    result = _invoke(obj, "acl", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: the database has no customers table: "
                                     "run `simhost db upgrade` first")
    with obj.engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (login TEXT, enabled BOOLEAN)"))
    result = _invoke(obj, "acl", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "customers.mqtt_password_hash" in result.output
    assert "Traceback" not in result.output


def test_command_reports_bad_logins_and_unwritable_dir_in_one_line(tmp_path: Path) -> None:
    obj = PlainContext(f"sqlite:///{tmp_path}/reg.db")
    with obj.engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (login TEXT, enabled BOOLEAN, mqtt_password_hash TEXT)"))
        conn.execute(text("INSERT INTO customers VALUES ('a/b', 1, :h)"), {"h": hash_password("x")})
    result = _invoke(obj, "acl", "--out", str(tmp_path / "out"), "--broker-user", "")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "'a/b' cannot be an MQTT username" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    with obj.engine.begin() as conn:
        conn.execute(text("DELETE FROM customers"))
    result = _invoke(obj, "acl", "--out", str(blocker / "sub"), "--broker-user", "")
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot write into")


def test_help_says_what_is_written_and_how_to_use_it() -> None:
    result = CliRunner().invoke(mqtt, ["acl", "--help"])
    assert result.exit_code == 0
    for words in ("passwd", "acl_file", "services.json", "mosquitto.conf.snippet", "allow_anonymous false",
                  "systemctl reload mosquitto", "--router-group"):
        assert words in result.output, words
    assert isinstance(mqtt, click.Group)
