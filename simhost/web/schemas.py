"""What the API answers and takes: typed models (they make the OpenAPI document), built from the tables."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from simhost.delivery.models import Delivery, DeliveryAttempt
from simhost.models import Port
from simhost.registry.models import Customer, RoutedMessage, SimSlot, WhitelistEntry
from simhost.registry.validate import as_utc
from simhost.router.directory import NUMBER_KINDS
from simhost.security.models import ApiKey
from simhost.sending.models import Send
from simhost.status_feed import PortReport


def _utc(t: datetime | None) -> datetime | None:
    return as_utc(t) if t is not None else None


class Message(BaseModel):
    """A message (SMS or call) routed to the customer."""

    id: str
    kind: str
    number: str | None
    number_kind: str | None
    sender: str | None
    text: str | None
    rule: str | None
    received_at: datetime

    @classmethod
    def of(cls, m: RoutedMessage) -> Message:
        return cls(id=m.id, kind=m.kind, number=m.number, number_kind=m.number_kind, sender=m.sender, text=m.text,
                   rule=m.rule, received_at=as_utc(m.received_at))


class MessageDetail(Message):
    """A message with why it went where it went, and the message as it was published (`message`)."""

    status: str
    owner: str | None
    reason_code: str | None
    reason: str | None
    routed_at: datetime
    assigned_by: str | None
    assigned_at: datetime | None
    message: dict[str, JsonValue]

    @classmethod
    def of(cls, m: RoutedMessage) -> MessageDetail:
        try:
            payload = json.loads(m.payload)
        except ValueError:
            payload = None
        return cls(**Message.of(m).model_dump(), status=m.status, owner=m.owner, reason_code=m.reason_code,
                   reason=m.reason, routed_at=as_utc(m.routed_at), assigned_by=m.assigned_by,
                   assigned_at=_utc(m.assigned_at), message=payload if isinstance(payload, dict) else {})


class MessagePage(BaseModel):
    items: list[Message]
    next_cursor: str | None = Field(description="Give as `cursor` for the next (older) page; null on the last.")


class DetailPage(BaseModel):
    items: list[MessageDetail]
    next_cursor: str | None


class SmsRequest(BaseModel):
    """An SMS to send: from one of the customer's numbers or "shared"; `report` asks for a delivery report."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    from_: str = Field(alias="from", min_length=1, max_length=32, examples=["shared"])
    to: str = Field(min_length=1, max_length=32, examples=["+79161234567"])
    text: str = Field(min_length=1, max_length=10_000)
    report: bool = True


class SendOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str
    client_id: str | None
    state: str
    from_: str = Field(alias="from")
    to: str
    parts: int
    message_references: list[int | None]
    reason_code: str | None
    reason: str | None
    text: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Send, mrs: list[int | None]) -> SendOut:
        return cls.model_validate({
            "id": row.id, "client_id": row.client_id, "state": row.state, "from": row.from_number or row.requested_from,
            "to": row.to_number, "parts": row.parts, "message_references": mrs, "reason_code": row.reason_code,
            "reason": row.reason, "text": row.text, "created_at": as_utc(row.created_at),
            "updated_at": as_utc(row.updated_at)})


class SendPage(BaseModel):
    items: list[SendOut]
    next_cursor: str | None


class Forwarding(BaseModel):
    email: str | None
    http_url: str | None
    http_secret_set: bool
    http_secret_rotated_at: datetime | None
    smpp_system_id: str | None
    smpp_password_set: bool
    smpp_long_mode: str
    msisdn: str | None
    http_secret: str | None = Field(default=None, description="A signing secret made by this change: shown only now.")
    smpp_password: str | None = Field(default=None, description="An SMPP password made by this change: shown only "
                                                                "now.")

    @classmethod
    def of(cls, c: Customer, made: str | None = None, smpp_made: str | None = None) -> Forwarding:
        return cls(email=c.email, http_url=c.http_url, http_secret_set=c.http_secret is not None,
                   http_secret_rotated_at=_utc(c.http_secret_rotated_at), smpp_system_id=c.smpp_system_id,
                   smpp_password_set=c.smpp_password_hash is not None, smpp_long_mode=c.smpp_long_mode or "udh",
                   msisdn=c.forward_msisdn, http_secret=made, smpp_password=smpp_made)


class ForwardingChange(BaseModel):
    """Fields left out stay as they are; null or "" clears one."""

    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(default=None, max_length=4096, description="Address(es), comma-separated.")
    http_url: str | None = Field(default=None, max_length=4096)
    http_secret: str | None = Field(default=None, max_length=4096,
                                    description="Your own signing secret, 16-128 characters.")
    rotate_http_secret: bool = Field(default=False,
                                     description="Make a new signing secret; the old one signs for 24 h more.")
    smpp_system_id: str | None = Field(default=None, max_length=4096)
    smpp_password: str | None = Field(default=None, max_length=64,
                                      description="The SMPP password, 6-8 printable ASCII characters.")
    smpp_long_mode: Literal["udh", "payload"] | None = Field(
        default=None, description="Long messages over SMPP: concatenated parts (udh) or one message_payload.")
    msisdn: str | None = Field(default=None, max_length=64)


class Attempt(BaseModel):
    at: datetime
    result: str
    status_code: int | None
    error: str | None
    latency_ms: int

    @classmethod
    def of(cls, a: DeliveryAttempt) -> Attempt:
        return cls(at=as_utc(a.at), result=a.result, status_code=a.status_code, error=a.error,
                   latency_ms=a.latency_ms)


class DeliveryOut(BaseModel):
    id: int
    message_id: str
    owner: str
    channel: str
    event: str
    state: str
    tries: int
    next_try_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[Attempt]

    @classmethod
    def of(cls, d: Delivery, attempts: list[DeliveryAttempt]) -> DeliveryOut:
        return cls(id=d.id, message_id=d.message_id, owner=d.owner, channel=d.channel, event=d.kind, state=d.state,
                   tries=d.tries, next_try_at=as_utc(d.next_try_at), last_error=d.last_error,
                   created_at=as_utc(d.created_at), delivered_at=_utc(d.delivered_at),
                   attempts=[Attempt.of(a) for a in attempts])


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class WhitelistOut(BaseModel):
    number: str
    sender_name: str
    approved_by: str | None
    approved_at: datetime

    @classmethod
    def of(cls, w: WhitelistEntry, msisdn: str) -> WhitelistOut:
        return cls(number=msisdn, sender_name=w.sender_name, approved_by=w.approved_by,
                   approved_at=as_utc(w.approved_at))


class Number(BaseModel):
    msisdn: str
    kind: str
    enabled: bool
    whitelist: list[WhitelistOut] | None = Field(
        default=None, description="hosted-company numbers: the alphanumeric senders approved on it.")


class SlotOut(Number):
    bank: int
    slot: int
    iccid: str
    imsi: str | None
    owner: str | None
    port: str | None

    @classmethod
    def of(cls, slot: SimSlot, owner: str | None) -> SlotOut:
        return cls(msisdn=slot.msisdn, kind=slot.kind, enabled=slot.enabled, bank=slot.bank, slot=slot.slot,
                   iccid=slot.iccid, imsi=slot.imsi, owner=owner, port=slot.port)


class CustomerOut(BaseModel):
    login: str
    name: str | None
    verified: bool
    enabled: bool
    numbers: int
    created_at: datetime
    mqtt_password: str | None = Field(default=None, description="On creation only: the new MQTT (and web) password.")

    @classmethod
    def of(cls, c: Customer, numbers: int, password: str | None = None) -> CustomerOut:
        return cls(login=c.login, name=c.name, verified=c.verified, enabled=c.enabled, numbers=numbers,
                   created_at=as_utc(c.created_at), mqtt_password=password)


class NewCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=4096)
    verified: bool = False


class CustomerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    verified: bool | None = None


class PortOut(BaseModel):
    name: str
    url: str
    driver: str | None
    enabled: bool
    last_message_at: datetime | None = Field(description="When the last SMS part read on this port was spooled.")
    last_iccid: str | None = Field(description="The SIM that last SMS came from.")
    messages_today: int = Field(default=0, description="Messages read on this port since midnight UTC.")
    status: PortReport | None = Field(default=None, description="The live status, as the gateway last published it "
                                                                "(retained on MQTT); null when none is known.")


class ApiKeyOut(BaseModel):
    key_id: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    api_key: str | None = Field(default=None, description="On creation only: the whole key, shown this once.")

    @classmethod
    def of(cls, k: ApiKey, whole: str | None = None) -> ApiKeyOut:
        return cls(key_id=k.key_id, created_at=as_utc(k.created_at), last_used_at=_utc(k.last_used_at),
                   revoked_at=_utc(k.revoked_at), api_key=whole)


class NewWhitelistEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=64)
    sender_name: str = Field(min_length=1, max_length=64)


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: str = Field(min_length=1, max_length=64)


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(default_factory=list, max_length=1000)
    owner: str | None = Field(default=None, max_length=64)


class Retried(BaseModel):
    revived: int


# ---- the operators' registry and traffic endpoints -------------------------------------------------------------


class NewPort(BaseModel):
    """A modem port to register, checked as `simhost port add` checks it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=4096, examples=["port01"],
                      description="Letters, digits, '_', '-' or '.'; it becomes an MQTT topic level.")
    url: str = Field(min_length=1, max_length=4096, examples=["/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0"],
                     description="A pyserial URL: a device path, socket://host:port, spy://...")
    driver: str | None = Field(default=None, max_length=64,
                               description="The modem driver; left out, it is chosen by probing AT+CGMI/AT+CGMM.")


class RegisteredPort(BaseModel):
    name: str
    url: str
    driver: str | None
    enabled: bool
    warning: str | None = Field(default=None, description="Said when the device path does not exist (yet).")

    @classmethod
    def of(cls, p: Port, warning: str | None = None) -> RegisteredPort:
        return cls(name=p.name, url=p.url, driver=p.driver, enabled=p.enabled, warning=warning)


class NewSlot(BaseModel):
    """A SIM to register, checked as `simhost slot add` checks it."""

    model_config = ConfigDict(extra="forbid")
    bank: int
    slot: int
    iccid: str = Field(min_length=1, max_length=64, description="19 or 20 digits, Luhn-checked.")
    msisdn: str = Field(min_length=1, max_length=64, description="Any form the default region reads.")
    kind: str = Field(max_length=64, json_schema_extra={"enum": list(NUMBER_KINDS)})
    owner: str | None = Field(default=None, max_length=64,
                              description="A dedicated number's owner (a verified customer); shared ones have none.")
    port: str | None = Field(default=None, max_length=4096, description="The registered port holding the SIM.")
    imsi: str | None = Field(default=None, max_length=64)


class RegisteredSlot(SlotOut):
    note: str | None = Field(default=None, description="A dedicated number without an owner stays unrouted.")
    warning: str | None = Field(default=None, description="The port's last SMS came from another SIM.")


class SlotChange(BaseModel):
    """Fields left out stay; `owner` or `port` null takes it away. Checked together: a shared number has no owner,
    a dedicated one's owner is verified."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = Field(default=None, description="false: its messages are kept and published as rejected.")
    owner: str | None = Field(default=None, max_length=64)
    port: str | None = Field(default=None, max_length=4096)
    kind: str | None = Field(default=None, max_length=64, json_schema_extra={"enum": list(NUMBER_KINDS)})


class CustomerDetail(BaseModel):
    """A customer as `simhost owner show` shows it: secrets only as set or not."""

    login: str
    name: str | None
    verified: bool
    enabled: bool
    created_at: datetime
    mqtt_password_set: bool
    web_password_set: bool = Field(description="false: it signs in to the web with its MQTT password.")
    forwarding: Forwarding
    numbers: list[SlotOut]

    @classmethod
    def of(cls, c: Customer, slots: list[SimSlot]) -> CustomerDetail:
        return cls(login=c.login, name=c.name, verified=c.verified, enabled=c.enabled,
                   created_at=as_utc(c.created_at), mqtt_password_set=c.mqtt_password_hash is not None,
                   web_password_set=c.web_password_hash is not None, forwarding=Forwarding.of(c),
                   numbers=[SlotOut.of(x, c.login) for x in slots])


class NewPassword(BaseModel):
    login: str
    password: str = Field(description="Shown only this once.")
    note: str | None = None


class OperatorSmsRequest(SmsRequest):
    """An SMS sent on a customer's behalf (`simhost send --owner`): replies to it become the customer's."""

    owner: str = Field(min_length=1, max_length=64)


class OwnedSendOut(SendOut):
    owner: str


class OwnedSendPage(BaseModel):
    items: list[OwnedSendOut]
    next_cursor: str | None
