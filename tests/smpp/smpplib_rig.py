"""An SMPP server on a free port over a registry with SMPP customers, and python-smpplib as the customer."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.consts
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from simhost.config import Settings
from simhost.db import make_engine, make_sessions
from simhost.delivery.models import Delivery, DeliveryAttempt
from simhost.delivery.queue import enqueue
from simhost.registry.models import RoutedMessage
from simhost.smpp.server import SmppServer
from tests.delivery.deliverylib import attempts_of
from tests.router.routerlib import VIRTUAL, cli, registry

WAIT_S = 15.0
PASSWORD = "pa55word"
SHARED = "+79000000001"
SHARED_ICCID = "89701990000000000017"


@dataclass
class Got:
    """What a client received: each deliver_sm PDU (smpplib's object) in order."""

    pdus: list[Any] = field(default_factory=list)


class Customer:
    """python-smpplib bound to the server; `answer` decides each deliver_sm_resp status (None: no answer)."""

    def __init__(self, port: int, system_id: str = "acme", password: str = PASSWORD, mode: str = "trx",
                 answer: Callable[[Any], int | None] | None = None) -> None:
        self.client = smpplib.client.Client("127.0.0.1", port, timeout=0.5, allow_unknown_opt_params=True)
        self.got = Got()
        self.sent: list[Any] = []
        self.answer = answer
        self.client.set_message_received_handler(self._received)
        self.client.set_message_sent_handler(self._sent)
        self.client.set_error_pdu_handler(lambda pdu: None)  # an error response is kept with the others
        self.client.connect()
        bind = {"trx": self.client.bind_transceiver, "rx": self.client.bind_receiver,
                "tx": self.client.bind_transmitter}[mode]
        try:
            bind(system_id=system_id, password=password)
        except Exception:
            self.client.disconnect()
            raise

    def _sent(self, pdu: Any) -> None:  # smpplib calls it with pdu= as a keyword
        self.sent.append(pdu)

    def _received(self, pdu: Any) -> int | None:
        self.got.pdus.append(pdu)
        return None if self.answer is None else self.answer(pdu)

    def read_until(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.client.read_once(auto_send_enquire_link=False) if self._readable() else None
        return True

    def _readable(self) -> bool:
        import select

        return bool(select.select([self.client._socket], [], [], 0.2)[0])

    def read_raw(self, count: int, timeout_s: float = WAIT_S) -> list[Any]:
        """`count` PDUs read and left unanswered."""
        pdus: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(pdus) < count and time.monotonic() < deadline:
            if self._readable():
                pdus.append(self.client.read_pdu())
        return pdus

    def close(self) -> None:
        with suppress(Exception):
            self.client.unbind()
        self.client.disconnect()


def reference(pdu: Any) -> tuple[int, int, int] | None:
    """(reference, total, seq) of a UDH-concatenated part."""
    data = pdu.short_message
    if not pdu.esm_class & 0x40:
        return None
    header = data[1:data[0] + 1]
    assert header[:2] == b"\x00\x03", header.hex()
    return header[2], header[3], header[4]


def text_of(pdus: list[Any]) -> str:
    """The whole text of one message's deliver_sm PDUs (UDH parts joined in order, or message_payload)."""
    chunks: list[tuple[int, bytes]] = []
    for p in pdus:
        payload = getattr(p, "message_payload", None)
        data = payload if payload else p.short_message
        seq = 1
        if p.esm_class & 0x40:
            seq = reference(p)[2]  # type: ignore[index]
            data = data[data[0] + 1:]
        chunks.append((seq, data))
    raw = b"".join(d for _s, d in sorted(chunks))
    coding = pdus[0].data_coding
    if coding == 8:
        return raw.decode("utf-16-be")
    from simhost_drivers.pdu.gsm7 import decode_septets

    return decode_septets(list(raw))


@dataclass
class Site:
    db_url: str
    sessions: sessionmaker[Session]
    settings: Settings

    def route(self, text: str | None, *, kind: str = "sms", sender: str = "Сбербанк",
              sender_type: str = "alphanumeric", owner: str = "acme", **extra: Any) -> str:
        mid = f"test-{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        payload = {"schema": 1, "id": mid, "kind": kind, "owner": owner, "number": VIRTUAL, "sender": sender,
                   "sender_type": sender_type, "text": text, "received_at": now.isoformat(), "rule": "dedicated",
                   **extra}
        row = {"id": mid, "kind": kind, "status": "routed", "owner": owner, "received_at": now, "routed_at": now,
               "topic": f"simhost/v1/owners/{owner}/messages", "payload": json.dumps(payload, ensure_ascii=False)}
        with self.sessions.begin() as s:
            s.execute(insert(RoutedMessage), [row])
            enqueue(s, [row], now)
        return mid

    def delivery(self, message_id: str) -> Delivery:
        with self.sessions() as s:
            return s.scalars(select(Delivery).where(Delivery.message_id == message_id,
                                                    Delivery.channel == "smpp")).one()

    def attempts(self, message_id: str) -> list[DeliveryAttempt]:
        return attempts_of(self.sessions, message_id)

    @staticmethod
    def wait(srv: SmppServer, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
        """Until `predicate` holds, checked after each database step of the server."""
        with srv.changed:
            return srv.changed.wait_for(predicate, timeout_s)


@contextmanager
def site(tmp_path: Path) -> Iterator[Site]:
    """Customer acme (virtual number VIRTUAL, SMPP system_id acme) and a shared number on port01."""
    db_url = f"sqlite:///{tmp_path / 'simhost.db'}"
    registry(db_url)
    cli(db_url, "slot", "add", "--bank", "1", "--slot", "2", "--iccid", SHARED_ICCID, "--msisdn", SHARED,
        "--kind", "shared", "--port", "port01")
    cli(db_url, "owner", "forward", "acme", "--smpp-system-id", "acme", "--smpp-password", PASSWORD)
    engine = make_engine(db_url)
    try:
        yield Site(db_url, make_sessions(engine), Settings(db_url=db_url, region="RU"))
    finally:
        engine.dispose()


@contextmanager
def server(s: Site, **options: Any) -> Iterator[SmppServer]:
    options = {"retry_s": 0.2, "failed_bind_delay_s": 0.05, "poll_s": 0.05, **options}
    srv = SmppServer(s.settings, s.sessions, listen="127.0.0.1:0", **options)
    srv.start()
    try:
        assert srv.listening.wait(WAIT_S)
        yield srv
    finally:
        srv.stop()


ROK = smpplib.consts.SMPP_ESME_ROK
