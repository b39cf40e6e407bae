"""A connection to Mosquitto as the dynamic-security admin: control commands sent in batches on
`$CONTROL/dynamic-security/v1`, each answer read back and matched by its correlation data."""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from simhost.config import MqttTarget
from simhost.security.dynsec import CONTROL_TOPIC, RESPONSE_TOPIC, Current, DynsecError, Json, parse_current

TIMEOUT_S = 10.0
BATCH = 100  # commands per control message
KEEPALIVE_S = 30


class Response(NamedTuple):
    """The plugin's answer to one command: `error` is None on success; `data` what a get or list command returns."""

    command: str
    error: str | None
    data: Json


class DynsecLink:
    """Use as a context manager: connects on entry (DynsecError when refused or unreachable), disconnects on exit."""

    def __init__(self, target: MqttTarget, username: str, password: str, *, timeout_s: float = TIMEOUT_S) -> None:
        self.target = target
        self.username = username
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._connack: ReasonCode | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._answers: dict[str, Response] = {}
        self._nonce = secrets.token_hex(6)
        self._counter = 0
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=f"simhost-dynsec-{secrets.token_hex(8)}", protocol=paho.MQTTv5)
        self.client.username_pw_set(username, password)
        if target.tls:
            self.client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def __enter__(self) -> DynsecLink:
        try:
            self.client.connect(self.target.host, self.target.port, keepalive=KEEPALIVE_S)
        except (OSError, ssl.SSLError) as exc:
            raise DynsecError(f"cannot reach the MQTT broker at {self.target}: {exc.strerror or exc}") from None
        self.client.loop_start()
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _open(self) -> None:
        who = f"the dynamic-security admin {self.username!r}"
        if not self._wait(lambda: self._connack is not None):
            raise DynsecError(f"the MQTT broker at {self.target} did not answer the connection in {self.timeout_s:g} s")
        assert self._connack is not None
        if self._connack.is_failure:
            raise DynsecError(f"the MQTT broker at {self.target} refused {who}: {self._connack} "
                              "(check --admin-user and --admin-password-file)")
        _rc, mid = self.client.subscribe(RESPONSE_TOPIC, qos=1)
        if mid is None or not self._wait(lambda: mid in self._subacks):
            raise DynsecError(f"the MQTT broker at {self.target} did not answer a subscription in {self.timeout_s:g} s")
        if any(r.is_failure for r in self._subacks[mid]):
            raise DynsecError(f"{who} may not read {RESPONSE_TOPIC}: is it the admin `mosquitto_ctrl dynsec init` "
                              "made, and is the plugin loaded?")

    def _wait(self, predicate: Callable[[], bool]) -> bool:
        with self._cond:
            return bool(self._cond.wait_for(predicate, self.timeout_s))

    def _on_connect(self, _c: paho.Client, _u: object, _f: object, reason: ReasonCode,
                    _p: Properties | None) -> None:
        with self._cond:
            self._connack = reason
            self._cond.notify_all()

    def _on_subscribe(self, _c: paho.Client, _u: object, mid: int, reasons: list[ReasonCode],
                      _p: Properties | None) -> None:
        with self._cond:
            self._subacks[mid] = reasons
            self._cond.notify_all()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        responses = body.get("responses") if isinstance(body, dict) else None
        if not isinstance(responses, list):
            return
        with self._cond:
            for r in responses:
                if not isinstance(r, dict) or not isinstance(key := r.get("correlationData"), str):
                    continue
                error, data = r.get("error"), r.get("data")
                self._answers[key] = Response(str(r.get("command", "")), error if isinstance(error, str) else None,
                                              data if isinstance(data, dict) else {})
            self._cond.notify_all()

    def run(self, commands: Sequence[Json], *, batch: int = BATCH) -> list[Response]:
        """Send `commands` in order, `batch` to a message, waiting for each message's answers before the next."""
        answers: list[Response] = []
        for start in range(0, len(commands), batch):
            keys = []
            chunk = []
            for command in commands[start:start + batch]:
                self._counter += 1
                keys.append(f"{self._nonce}-{self._counter}")
                chunk.append({**command, "correlationData": keys[-1]})
            self.client.publish(CONTROL_TOPIC, json.dumps({"commands": chunk}), qos=1)
            if not self._wait(lambda: all(k in self._answers for k in keys)):  # noqa: B023 (called before the loop moves on)
                raise DynsecError(f"no answer on {RESPONSE_TOPIC} in {self.timeout_s:g} s: is the dynamic-security "
                                  "plugin loaded (`plugin .../mosquitto_dynamic_security.so` in mosquitto.conf)?")
            with self._cond:
                answers.extend(self._answers.pop(k) for k in keys)
        return answers

    def read_state(self) -> Current:
        """The plugin's clients, roles and default access."""
        answers = self.run([{"command": "listClients", "verbose": True}, {"command": "listRoles", "verbose": True},
                            {"command": "getDefaultACLAccess"}])
        failed = [f"{a.command}: {a.error}" for a in answers if a.error]
        if failed:
            raise DynsecError(f"the plugin refused to be read: {'; '.join(failed)}")
        return parse_current(answers[0].data, answers[1].data, answers[2].data)


def failures(commands: Sequence[Json], answers: Sequence[Response]) -> list[str]:
    """`command target: error` for each command the plugin refused."""
    out = []
    for command, answer in zip(commands, answers, strict=True):
        if answer.error:
            target = command.get("username") or command.get("rolename") or ""
            out.append(f"{answer.command} {target}: {answer.error}".replace("  ", " "))
    return out
