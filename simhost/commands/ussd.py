"""`simhost ussd PORT CODE`: a USSD request asked of the gateway that drives the port, over MQTT, and its answer."""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

import click
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import select

from simhost.commands.common import Context, echo_json, friendly_errors, json_option
from simhost.config import check_ussd_code
from simhost.models import Port
from simhost.mqtt import KEEPALIVE_S, make_client
from simhost.payloads import PayloadError, parse_object
from simhost.topics import Topics

DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5.0
QUEUED_WAIT_S = 5.0  # a running gateway says `queued` at once; no word within this long: no gateway has the port
ANSWER_MARGIN_S = 5.0  # beyond the timeout: the gateway's own `failed` (timeout) comes first


class _Asker:
    """One MQTT connection that subscribes to the answer topic, publishes the request and keeps each answer step."""

    def __init__(self, obj: Context, port: str, request_id: str) -> None:
        self.target = obj.settings.mqtt
        self.topics = Topics(obj.settings.topic_prefix)
        self.port = port
        self.request_id = request_id
        self.steps: list[dict[str, Any]] = []
        self.refused: str | None = None
        self.subscribed = False
        self._cond = threading.Condition()
        self.client = make_client(self.target, "simhost-ussd")
        self.client.on_connect = self._connected
        self.client.on_subscribe = self._on_subscribed
        self.client.on_message = self._on_message

    def _connected(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Properties | None) -> None:
        if reason.is_failure:
            with self._cond:
                self.refused = f"the MQTT broker at {self.target} refused the connection: {reason}"
                self._cond.notify_all()
            return
        client.subscribe(self.topics.ussd_answer(self.port, self.request_id), qos=1)

    def _on_subscribed(self, *_args: Any) -> None:
        with self._cond:
            self.subscribed = True
            self._cond.notify_all()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            step = parse_object(bytes(msg.payload))
        except PayloadError:
            return
        with self._cond:
            self.steps.append(step)
            self._cond.notify_all()

    def wait(self, what: str, timeout_s: float) -> bool:
        """Wait until `what` ("subscribed", "queued", "final") has happened; False after `timeout_s`."""
        def done() -> bool:
            if self.refused is not None:
                return True
            if what == "subscribed":
                return self.subscribed
            states = {str(s.get("state")) for s in self.steps}
            return bool(states & ({"answered", "failed"} if what == "final" else {"queued", "answered", "failed"}))
        with self._cond:
            return self._cond.wait_for(done, timeout_s) and self.refused is None

    def ask(self, code: str, timeout_s: float) -> dict[str, Any]:
        try:
            self.client.connect(self.target.host, self.target.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot reach the MQTT broker at {self.target}: {exc}") from None
        self.client.loop_start()
        try:
            if not self.wait("subscribed", CONNECT_TIMEOUT_S):
                raise click.ClickException(self.refused or f"the MQTT broker at {self.target} did not answer")
            request = {"id": self.request_id, "code": code, "timeout_s": timeout_s}
            info = self.client.publish(self.topics.ussd_request(self.port), json.dumps(request), qos=1)
            info.wait_for_publish(CONNECT_TIMEOUT_S)
            if not self.wait("queued", min(QUEUED_WAIT_S, timeout_s)):
                raise click.ClickException(f"no gateway took the request for port {self.port} within "
                                           f"{min(QUEUED_WAIT_S, timeout_s):g} s: is the gateway driving it running "
                                           "(and may this MQTT account ask for USSD)?")
            if not self.wait("final", timeout_s + ANSWER_MARGIN_S):
                raise click.ClickException(f"no answer to {code} from port {self.port} within {timeout_s:g} s")
            with self._cond:
                return next(s for s in self.steps if s.get("state") in ("answered", "failed"))
        finally:
            self.client.disconnect()
            self.client.loop_stop()


@click.command("ussd")
@click.argument("port")
@click.argument("code")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1, 300), default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Seconds to wait for the network's answer.")
@json_option
@click.pass_obj
@friendly_errors
def ussd(obj: Context, port: str, code: str, timeout_s: float, as_json: bool) -> None:
    """Send the USSD request CODE (e.g. '*100#') from the SIM in PORT and print the network's answer.

    The gateway driving PORT holds its modem, so the request goes to it over MQTT (the MQTT account must be the
    operator's); it runs between the port's other work, and the port keeps receiving messages meanwhile.
    """
    check_ussd_code(code)
    with obj.sessions()() as s:
        if s.scalar(select(Port.name).where(Port.name == port)) is None:
            raise click.ClickException(f"no port {port!r} is registered (see `simhost port list`)")
    step = _Asker(obj, port, secrets.token_hex(8)).ask(code, timeout_s)
    if as_json:
        echo_json(step)
    if step.get("state") != "answered":
        raise click.ClickException(f"USSD {code} on port {port} failed ({step.get('error_kind')}): "
                                   f"{step.get('error')}")
    if not as_json:
        click.echo(step.get("text"))
