"""One-off USSD requests over MQTT: `<prefix>/v1/ports/<port>/ussd` `{id, code[, timeout_s]}` goes to the port's
worker, and each step of the answer (`queued`, then `answered` or `failed`) to `.../ussd/<id>` at QoS 1."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho

from simhost.config import ConfigError, check_ussd_code
from simhost.gateway.ussd import UssdRequest, UssdResult
from simhost.gateway.worker import PortState, PortWorker
from simhost.payloads import PayloadError, parse_object
from simhost.topics import SCHEMA_VERSION, Topics

log = logging.getLogger("simhost.gateway.ussd")

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # one topic level, nothing a wildcard or a path could be
DEFAULT_TIMEOUT_S = 30.0
TIMEOUT_MAX_S = 300.0


def parse_request(payload: bytes) -> tuple[str, str, float]:
    """(id, code, timeout_s) of a request; PayloadError saying what is wrong (the id first, so a bad request with a
    usable id can still be answered)."""
    data = parse_object(payload)
    request_id = data.get("id")
    if not isinstance(request_id, str) or not REQUEST_ID_RE.match(request_id):
        raise PayloadError("`id` must be 1 to 64 of the characters A-Z, a-z, 0-9, '_', '.' and '-'")
    code = data.get("code")
    if not isinstance(code, str):
        raise PayloadError("`code` must be a string, e.g. \"*100#\"")
    try:
        check_ussd_code(code, "`code`")
    except ConfigError as exc:
        raise PayloadError(str(exc)) from None
    timeout = data.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= TIMEOUT_MAX_S:
        raise PayloadError(f"`timeout_s` must be a number of seconds from 1 to {TIMEOUT_MAX_S:g}")
    return request_id, code, float(timeout)


def answer(port: str, request_id: str, gateway: str, state: str, *, code: str | None = None,
           result: UssdResult | None = None, error: str | None = None, kind: str | None = None) -> dict[str, Any]:
    """One step of the answer to a request: `queued`, `answered` (with the decoded text, the string as the modem
    gave it, its dcs and the +CUSD status) or `failed` (with `error` and `error_kind`)."""
    found = result.answer if result is not None else None
    return {
        "schema": SCHEMA_VERSION, "id": request_id, "port": port, "gateway": gateway, "state": state,
        "code": result.code if result is not None else code,
        "text": found.text if found else None, "raw": found.raw if found else None,
        "dcs": found.dcs if found else None, "status": found.status if found else None,
        "error": result.error if result is not None else error,
        "error_kind": result.kind if result is not None else kind,
        "at": (result.at if result is not None else datetime.now(UTC)).isoformat(),
    }


class UssdRequests:
    """Takes the USSD requests for this gateway's ports (another gateway's ports are left to it) and answers them;
    `on_message` and `subscribe` are for the gateway's status client."""

    def __init__(self, client: paho.Client, topics: Topics, workers: Mapping[str, PortWorker],
                 gateway: str) -> None:
        self.client = client
        self.topics = topics
        self.workers = dict(workers)
        self.gateway = gateway

    def subscribe(self, client: paho.Client) -> None:
        client.subscribe(self.topics.ussd_requests_all, qos=1)

    def on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        try:
            self._take(msg.topic, bytes(msg.payload))
        except Exception:  # an exception here would end paho's network thread
            log.exception("USSD request on %s could not be handled", msg.topic)

    def _take(self, topic: str, payload: bytes) -> None:
        port = topic.split("/")[-2]
        worker = self.workers.get(port)
        if worker is None:
            return
        try:
            request_id, code, timeout_s = parse_request(payload)
        except PayloadError as exc:
            log.warning("bad USSD request for %s: %s", port, exc)
            known = self._id_of(payload)
            if known is not None:
                self._publish(port, answer(port, known, self.gateway, "failed", error=str(exc), kind="bad-request"))
            return
        state = worker.status.state
        if state != PortState.READY:
            self._publish(port, answer(port, request_id, self.gateway, "failed", code=code, kind="port",
                                       error=f"port {port} is {state}, not ready"))
            return
        self._publish(port, answer(port, request_id, self.gateway, "queued", code=code))

        def reply(result: UssdResult) -> None:
            self._publish(port, answer(port, request_id, self.gateway,
                                       "answered" if result.answer is not None else "failed", result=result))
        worker.ussd.submit(UssdRequest(request_id, code, timeout_s, time.monotonic() + timeout_s, reply))

    @staticmethod
    def _id_of(payload: bytes) -> str | None:
        try:
            request_id = parse_object(payload).get("id")
        except PayloadError:
            return None
        return request_id if isinstance(request_id, str) and REQUEST_ID_RE.match(request_id) else None

    def _publish(self, port: str, data: dict[str, Any]) -> None:
        self.client.publish(self.topics.ussd_answer(port, str(data["id"])), json.dumps(data, ensure_ascii=False),
                            qos=1)
