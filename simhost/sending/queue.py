"""The gateway's side of the send queue: claim a send for a port, record each part durably around AT+CMGS, settle
the outcome, match status reports; every change of state is committed with its outcome in the outbox."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from simhost.gateway.numbers import to_e164
from simhost.gateway.spool import OUTBOX, OutboxRow, write_outbox
from simhost.registry.models import Customer
from simhost.registry.snapshot import record_send
from simhost.sending.models import DELIVERED, FAILED, QUEUED, SENDING, SENT, UNKNOWN, Send, SendPart
from simhost.sending.requests import queue_outcome
from simhost.topics import SCHEMA_VERSION, Topics
from simhost_drivers.pdu import decode_pdu
from simhost_drivers.pdu.errors import PduError

log = logging.getLogger("simhost.sending")

REPORT_MATCH_WINDOW = timedelta(days=7)
STATUS_TEMPORARY = 0x20  # TS 23.040 §9.2.3.15: 0x00-0x1F completed, 0x20-0x3F still trying, 0x40 up failed
STATUS_PERMANENT = 0x40
CLAIM_BATCH = 200
# +CMS ERROR codes that say "not now" for a send (TS 24.011 §8.2.5.4 RP causes 38 network out of order,
# 41 temporary failure, 42 congestion, 47 resources unavailable; TS 27.005 §3.2.5 314 SIM busy, 331 no network
# service, 332 network timeout, 500 unknown; 515 "please wait" of SIMCom and Quectel): tried again later.
TRANSIENT_SEND_CODES = frozenset({38, 41, 42, 47, 314, 331, 332, 500, 515})


@dataclass(frozen=True)
class Claimed:
    """A send claimed for one port: what the worker needs to put it on the air."""

    id: str
    owner: str
    to: str
    text: str
    report: bool
    concat_ref: int
    parts_done: frozenset[int]  # part numbers already on the air (a send retried after a transient error)
    tries: int  # this one included


class SendQueue:
    """Database side of sending for one gateway process; `on_outcome` hands new outbox rows to the relay."""

    def __init__(self, engine: Engine, topics: Topics, region: str,
                 on_outcome: Callable[[list[OutboxRow]], None] | None = None) -> None:
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.topics = topics
        self.region = region
        self.on_outcome = on_outcome
        self._due = (select(Send.port).distinct()
                     .where(Send.state == QUEUED, Send.next_try_at <= bindparam("now")))

    # ---- claiming -----------------------------------------------------------------------------------------

    def due_ports(self, ports: Sequence[str], now: datetime | None = None) -> set[str]:
        """Which of `ports` have a queued send due now (one indexed query on the queued sends; the ports are
        picked out here, so the statement stays the same whatever the ports, and is compiled once)."""
        now = now or datetime.now(UTC)
        with self.sessions() as s:
            due = {port for port in s.scalars(self._due, {"now": now}) if port is not None}
        return due.intersection(ports)

    @staticmethod
    def queued_by_port(c: Connection, ports: Collection[str] | None = None) -> dict[str, int]:
        """How many sends wait in the queue for each port (of `ports`, or every port), for the metrics."""
        query = (select(Send.port, func.count()).where(Send.state == QUEUED, Send.port.is_not(None))
                 .group_by(Send.port))
        if ports is not None:
            query = query.where(Send.port.in_(sorted(ports)))
        return {str(port): int(count) for port, count in c.execute(query)}

    def claim(self, port: str, iccid: str | None, now: datetime | None = None, *,
              daily_limit: int = 0) -> Claimed | None:
        """The next send due on `port` from the SIM it holds now, taken (`sending`); customers take turns: the one
        whose last send on this port is oldest goes first. With `daily_limit`, a SIM that sent that many parts
        since midnight (UTC) sends nothing more until the next day: its sends wait, due then."""
        now = now or datetime.now(UTC)
        with self.sessions.begin() as s:
            if daily_limit and iccid is not None:
                midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                today = s.scalar(select(func.count()).select_from(SendPart).join(Send, Send.id == SendPart.send_id)
                                 .where(Send.iccid == iccid, SendPart.sent_at >= midnight)) or 0
                if today >= daily_limit:
                    s.execute(update(Send).where(Send.port == port, Send.state == QUEUED, Send.iccid == iccid)
                              .values(next_try_at=midnight + timedelta(days=1),
                                      reason=f"the SIM sent its {daily_limit} parts for today"))
                    return None
            rows = [(row, login) for row, login in s.execute(
                select(Send, Customer.login).join(Customer, Customer.id == Send.owner_id)
                .where(Send.port == port, Send.state == QUEUED, Send.next_try_at <= now)
                .order_by(Send.created_at).limit(CLAIM_BATCH))
                if iccid is None or row.iccid in (None, iccid)]
            if not rows:
                return None
            last: dict[int, datetime | None] = dict(s.execute(
                select(Send.owner_id, func.max(SendPart.sent_at)).join(SendPart, SendPart.send_id == Send.id)
                .where(Send.port == port).group_by(Send.owner_id)).all())
            floor = datetime.min.replace(tzinfo=UTC)
            row, login = min(rows, key=lambda r: (_aware(last.get(r[0].owner_id)) or floor, _aware(r[0].created_at)))
            tries = s.scalar(update(Send).where(Send.id == row.id, Send.state == QUEUED)
                             .values(state=SENDING, updated_at=now, tries=Send.tries + 1).returning(Send.tries))
            if tries is None:
                return None  # another process took it first
            done = frozenset(s.scalars(select(SendPart.seq).where(SendPart.send_id == row.id)))
            # the `queued` outcome, written by the router or the CLI, goes out before `sent` does
            waiting = [OutboxRow(*r) for r in s.execute(
                select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.payload)
                .where(OUTBOX.c.id == f"{row.id}:{QUEUED}", OUTBOX.c.published_at.is_(None)))]
            claimed = Claimed(row.id, login, row.to_number, row.text, row.report, row.concat_ref, done, tries)
        if waiting and self.on_outcome is not None:
            self.on_outcome(waiting)
        return claimed

    # ---- around AT+CMGS ------------------------------------------------------------------------------------

    def part_starting(self, send_id: str, seq: int, port: str) -> None:
        """Before AT+CMGS: a part found `sending` later (the gateway died waiting for the answer) is `unknown`,
        never sent again."""
        with self.sessions.begin() as s:
            s.add(SendPart(send_id=send_id, seq=seq, state=SENDING, port=port))

    def part_refused(self, send_id: str, seq: int) -> None:
        """The modem answered AT+CMGS with an error: that part did not go out."""
        with self.sessions.begin() as s:
            s.execute(delete(SendPart).where(SendPart.send_id == send_id, SendPart.seq == seq,
                                             SendPart.state == SENDING))

    def part_sent(self, send_id: str, seq: int, mr: int, now: datetime | None = None) -> None:
        with self.sessions.begin() as s:
            s.execute(update(SendPart).where(SendPart.send_id == send_id, SendPart.seq == seq)
                      .values(state=SENT, mr=mr, sent_at=now or datetime.now(UTC)))

    def sent(self, send_id: str, now: datetime | None = None) -> None:
        """Every part is on the air: the send is `sent`, and enters the sent log (replies become its owner's)."""
        now = now or datetime.now(UTC)
        with self._tx() as s:
            row, login = self._load(s, send_id)
            row.state, row.updated_at = SENT, now
            if row.from_number:
                record_send(s, row.from_number, row.to_number, login, now, "port", self.region)
            self._outcome(s, row, login, now)

    def retry_later(self, send_id: str, delay_s: float, reason_code: str, reason: str,
                    now: datetime | None = None) -> None:
        """A transient refusal: queued again, due after `delay_s` (the parts on the air stay so)."""
        now = now or datetime.now(UTC)
        with self.sessions.begin() as s:
            s.execute(update(Send).where(Send.id == send_id)
                      .values(state=QUEUED, next_try_at=now + timedelta(seconds=delay_s), updated_at=now,
                              reason_code=reason_code, reason=reason))

    def fail(self, send_id: str, reason_code: str, reason: str, *, state: str = FAILED,
             now: datetime | None = None) -> None:
        """The send ends `failed` (or `unknown`) with its reason."""
        now = now or datetime.now(UTC)
        with self._tx() as s:
            row, login = self._load(s, send_id)
            row.state, row.reason_code, row.reason, row.updated_at = state, reason_code, reason, now
            if state == UNKNOWN:
                s.execute(update(SendPart).where(SendPart.send_id == send_id, SendPart.state == SENDING)
                          .values(state=UNKNOWN))
            self._outcome(s, row, login, now)

    def recover(self, port: str, now: datetime | None = None) -> int:
        """At a session's start: sends left `sending` by a session (or process) that ended. One whose part was
        waiting for the modem's answer may have gone out: `unknown`, never sent twice; the others are queued
        again. Returns how many ended `unknown`."""
        now = now or datetime.now(UTC)
        with self.sessions() as s:
            stuck = list(s.scalars(select(Send.id).where(Send.port == port, Send.state == SENDING)))
            in_flight = set(s.scalars(select(SendPart.send_id).where(SendPart.send_id.in_(stuck),
                                                                     SendPart.state == SENDING)))
        for send_id in stuck:
            if send_id in in_flight:
                self.fail(send_id, "unknown", "the gateway stopped while the modem was sending it; whether it "
                                              "went out is not known, and it is not sent again", state=UNKNOWN, now=now)
            else:
                with self.sessions.begin() as s:
                    s.execute(update(Send).where(Send.id == send_id, Send.state == SENDING)
                              .values(state=QUEUED, updated_at=now))
        return len(in_flight)

    # ---- status reports ------------------------------------------------------------------------------------

    def report(self, port: str, pdu_hex: str, now: datetime | None = None) -> bool:
        """Match an SMS-STATUS-REPORT to the part it reports on (same port, message reference and recipient, sent
        within a week) and settle the part and, once all parts are final, the send; one that matches nothing is
        published on the unrouted topic for operators. True when it matched."""
        now = now or datetime.now(UTC)
        try:
            decoded = decode_pdu(pdu_hex)
        except PduError as exc:
            log.warning("%s: undecodable status report kept: %s", port, exc)
            return False
        if decoded.type != "SMS-STATUS-REPORT" or decoded.mr is None or decoded.status is None:
            return False
        recipient = to_e164(decoded.address.number, self.region) or decoded.address.number
        with self._tx() as s:
            found = s.execute(
                select(SendPart, Send).join(Send, Send.id == SendPart.send_id)
                .where(SendPart.port == port, SendPart.mr == decoded.mr, SendPart.state == SENT,
                       Send.to_number == recipient, SendPart.sent_at >= now - REPORT_MATCH_WINDOW)
                .order_by(SendPart.sent_at.desc()).limit(1)).first()
            if found is None:
                self._unmatched(s, port, pdu_hex, decoded.mr, recipient, decoded.status, now)
                return False
            part, row = found
            part.status, part.reported_at = decoded.status, now
            if decoded.status < STATUS_TEMPORARY:
                part.state = DELIVERED
            elif decoded.status >= STATUS_PERMANENT:
                part.state = FAILED
            else:
                return True  # the service centre is still trying: a final report follows
            states = list(s.scalars(select(SendPart.state).where(SendPart.send_id == row.id)))
            if row.state == SENT and len(states) == row.parts and all(st in (DELIVERED, FAILED) for st in states):
                login = s.scalar(select(Customer.login).where(Customer.id == row.owner_id)) or ""
                if all(st == DELIVERED for st in states):
                    row.state = DELIVERED
                else:
                    row.state, row.reason_code = FAILED, "undelivered"
                    row.reason = f"the network could not deliver it (status report TP-ST 0x{decoded.status:02X})"
                row.updated_at = now
                self._outcome(s, row, login, now)
            return True

    # ---- helpers -------------------------------------------------------------------------------------------

    def _load(self, s: Session, send_id: str) -> tuple[Send, str]:
        row = s.get(Send, send_id)
        if row is None:
            raise KeyError(f"no send {send_id}")
        return row, s.scalar(select(Customer.login).where(Customer.id == row.owner_id)) or ""

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """A transaction; the outcomes it queued go to the relay once it is committed."""
        with self.sessions.begin() as s:
            s.info["outcomes"] = []
            yield s
            rows: list[OutboxRow] = s.info.pop("outcomes")
        if rows and self.on_outcome is not None:
            self.on_outcome(rows)

    def _outcome(self, s: Session, row: Send, login: str, now: datetime) -> None:
        s.info.setdefault("outcomes", []).extend(queue_outcome(s, row, login, self.topics, now))

    def _unmatched(self, s: Session, port: str, pdu_hex: str, mr: int, recipient: str, status: int,
                   now: datetime) -> None:
        key = f"report-{port}-{mr}-{pdu_hex[-24:]}"[:64]
        payload = {"schema": SCHEMA_VERSION, "id": key, "kind": "status-report",
                   "status": "unrouted", "reason_code": "unmatched-report", "port": port, "message_reference": mr,
                   "recipient": recipient, "report_status": status, "pdu": pdu_hex, "received_at": now.isoformat(),
                   "reason": f"a status report (message reference {mr}, recipient {recipient}) matches no send on "
                             f"port {port}"}
        s.info.setdefault("outcomes", []).extend(write_outbox(s.connection(), [
            {"id": key, "port": port, "kind": "report", "topic": self.topics.unrouted,
             "payload": json.dumps(payload), "created_at": now, "published_at": None}]))


def _aware(t: datetime | None) -> datetime | None:
    """SQLite gives stored times back without their zone: they are UTC."""
    return t if t is None or t.tzinfo is not None else t.replace(tzinfo=UTC)
