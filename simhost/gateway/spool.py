"""The gateway's durable spool: parts are committed before the SIM copy is deleted, messages leave on PUBACK."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Table, func, insert, select, update

from simhost.gateway.message import PortIdentity, build_call, build_sms, build_undecodable, content_id
from simhost.models import Base, utcnow
from simhost.topics import Topics
from simhost_drivers.pdu import DecodedPdu, PduError, decode_pdu

log = logging.getLogger("simhost.spool")

REASSEMBLY_TIMEOUT_S = 24 * 3600
DECODED_CACHE_SIZE = 4096

PARTS: Table = Base.metadata.tables["inbound_parts"]
OUTBOX: Table = Base.metadata.tables["outbox"]
REPORTS: Table = Base.metadata.tables["status_reports"]

__all__ = ["OUTBOX", "PARTS", "REPORTS", "OutboxRow", "PendingPart", "PortIdentity", "PortScope", "Spool",
           "StoreResult", "content_id", "group_parts", "write_outbox"]


def _naive(moment: datetime) -> datetime:
    """UTC without tzinfo: SQLite gives stored times back naive, PostgreSQL aware."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@dataclass(frozen=True)
class StoreResult:
    """What storing one PDU did: `message_id` is set when a whole message entered the outbox."""

    part_id: str
    duplicate: bool
    message_id: str | None
    kind: str
    parts: int = 1  # of the message that entered the outbox


@dataclass(frozen=True)
class PortScope:
    """Which ports' rows a spool publishes and expires: the ports listed, or (`others`) every port but them.

    One gateway process has the whole database to itself (no scope); when a bank is split over several
    processes, each owns its ports' rows, and one of them also the rows of ports no process drives
    (a port removed while it had messages waiting), so nothing is left behind.
    """

    ports: frozenset[str]
    others: bool = False

    def clause(self, column: Any) -> Any:
        return column.not_in(self.ports) if self.others else column.in_(self.ports)


class OutboxRow(NamedTuple):
    """A message waiting for the broker's acknowledgement."""

    id: str
    topic: str
    payload: str


class PendingPart(NamedTuple):
    """A stored part of a multipart message not yet assembled."""

    id: str
    port: str
    iccid: str
    msisdn: str | None
    pdu: str
    seq: int
    total: int
    received_at: datetime


SAME_MESSAGE_WINDOW = timedelta(hours=1)


def write_outbox(c: Connection, rows: list[dict[str, Any]]) -> list[OutboxRow]:
    """Insert outbox rows whose ids are not there yet (a message read again after a crash, an outcome told
    before, is queued once); returns those inserted."""
    if not rows:
        return []
    there = set(c.scalars(select(OUTBOX.c.id).where(OUTBOX.c.id.in_([r["id"] for r in rows]))))
    fresh = [r for r in rows if r["id"] not in there]
    if fresh:
        c.execute(insert(OUTBOX), fresh)
    return [OutboxRow(r["id"], r["topic"], r["payload"]) for r in fresh]


def group_parts(parts: Sequence[PendingPart]) -> list[list[PendingPart]]:
    """Split the parts pending under one key into messages, each in sequence order.

    One key normally holds one message. It holds more when a sender reuses a reference (an 8-bit one wraps
    after 256 messages) while an older message with it is incomplete. The oldest part not yet placed starts a
    message; for each other sequence number the message takes the part whose SMSC timestamp is nearest to
    that first part's, within an hour (the parts of one message are sent together), earliest stored on ties.
    """
    if len({p.seq for p in parts}) == len(parts):
        one = sorted(parts, key=lambda p: p.seq)
        stamps = [_sent_at(p) for p in one]
        known = [t for t in stamps if t is not None]
        if not known or max(known) - min(known) <= SAME_MESSAGE_WINDOW:
            return [one]  # the usual case: one message, no two parts with one sequence number
    sent = {p.id: _sent_at(p) for p in parts}
    left = sorted(parts, key=lambda p: (_naive(p.received_at), p.id))
    messages: list[list[PendingPart]] = []
    while left:
        first = left[0]
        chosen = {first.seq: first}
        for part in left[1:]:
            if part.seq in chosen and part.seq != first.seq:
                if _distance(sent, first, part) < _distance(sent, first, chosen[part.seq]):
                    chosen[part.seq] = part
            elif part.seq not in chosen and _distance(sent, first, part) <= SAME_MESSAGE_WINDOW:
                chosen[part.seq] = part
        messages.append([chosen[k] for k in sorted(chosen)])
        taken = {p.id for p in chosen.values()}
        left = [p for p in left if p.id not in taken]
    return messages


@lru_cache(maxsize=DECODED_CACHE_SIZE)
def _decode(pdu_hex: str) -> DecodedPdu:
    """decode_pdu, remembered: a multipart message's parts are read again when each later part arrives (to
    group them) and when it is assembled. The result is frozen, so sharing it is safe."""
    return decode_pdu(pdu_hex)


def _sent_at(part: PendingPart) -> datetime | None:
    try:
        stamp = _decode(part.pdu).timestamp
    except PduError:
        return None
    return None if stamp is None else _naive(stamp)


def _distance(sent: dict[str, datetime | None], a: PendingPart, b: PendingPart) -> timedelta:
    ta, tb = sent[a.id], sent[b.id]
    return timedelta(0) if ta is None or tb is None else abs(ta - tb)


class _Batch:
    """Rows gathered while storing one batch of PDUs, written with one statement per table."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.keys: set[str] = set()  # multipart keys that got a part
        self.index: dict[str, int] = {}  # part id -> its place in the batch's results


class Spool:
    """Inbound parts, multipart reassembly and the outbox, in one database; safe across threads.

    Every part read from a SIM passes through here, so it speaks SQLAlchemy Core to the tables the ORM
    models declare: no identity map, one executemany per table and batch.
    """

    def __init__(
        self,
        engine: Engine,
        topics: Topics,
        region: str,
        *,
        reassembly_timeout_s: float = REASSEMBLY_TIMEOUT_S,
        on_new_message: Callable[[list[OutboxRow]], None] | None = None,
        scope: PortScope | None = None,
    ) -> None:
        self.engine = engine
        self.scope = scope
        self.topics = topics
        self.region = region
        self.reassembly_timeout = timedelta(seconds=reassembly_timeout_s)
        self.on_new_message = on_new_message
        self._lock = threading.Lock()

    def store_pdu(self, who: PortIdentity, pdu_hex: str) -> StoreResult:
        """Commit one PDU read from the SIM (idempotent by content); return once it is durable."""
        return self.store_pdus(who, [pdu_hex])[0]

    def store_pdus(self, who: PortIdentity, pdus: Sequence[str]) -> list[StoreResult]:
        """Commit PDUs read from one SIM in a single transaction (a sweep); return once they are durable."""
        now = utcnow()
        results: list[StoreResult] = []
        cleaned = [p.strip().upper() for p in pdus]
        ids = [content_id(who.iccid, p) for p in cleaned]
        batch = _Batch()
        with self._lock, self.engine.begin() as c:
            known = set(c.scalars(select(PARTS.c.id).where(PARTS.c.id.in_(ids))))
            known.update(c.scalars(select(REPORTS.c.id).where(REPORTS.c.id.in_(ids))))
            for n, (part_id, pdu_hex) in enumerate(zip(ids, cleaned, strict=True)):
                if part_id in known:
                    results.append(StoreResult(part_id, True, None, "duplicate"))
                    continue
                known.add(part_id)
                batch.index[part_id] = n
                # parts of one sweep keep their storage order, which pairs parts that share a reference
                results.append(self._store_one(batch, who, part_id, pdu_hex, now + timedelta(microseconds=n)))
            if batch.parts:
                c.execute(insert(PARTS), batch.parts)
            if batch.reports:
                c.execute(insert(REPORTS), batch.reports)
            for key in sorted(batch.keys):
                for parts in self._pending_messages(c, key):
                    if len(parts) < parts[0].total:
                        continue
                    message_id = self._assemble(c, batch, who, parts, now, missing=[])
                    last = max(batch.index[p.id] for p in parts if p.id in batch.index)
                    results[last] = StoreResult(results[last].part_id, False, message_id, "sms", len(parts))
            fresh = write_outbox(c, batch.outbox)
        self._announce(fresh)
        return results

    def _store_one(self, batch: _Batch, who: PortIdentity, part_id: str, pdu_hex: str,
                   now: datetime) -> StoreResult:
        """Queue the rows for a part not yet in the spool."""
        row = {"id": part_id, "port": who.port, "iccid": who.iccid, "msisdn": who.msisdn, "pdu": pdu_hex,
               "received_at": now, "concat_key": None, "seq": 1, "total": 1, "message_id": part_id}
        try:
            decoded = _decode(pdu_hex).to_json()
        except PduError as exc:
            log.warning("%s: undecodable PDU kept for inspection (%s): %s", who.port, exc, pdu_hex)
            batch.parts.append(row)
            self._queue_outbox(batch, part_id, who.port, "undecodable",
                               build_undecodable(part_id, who, pdu_hex, str(exc), now))
            return StoreResult(part_id, False, part_id, "undecodable")
        if decoded.get("type") == "SMS-STATUS-REPORT":
            batch.reports.append({"id": part_id, "port": who.port, "iccid": who.iccid, "pdu": pdu_hex,
                                  "received_at": now})
            return StoreResult(part_id, False, None, "status-report")
        concat = decoded.get("concat")
        if not concat or int(concat.get("total") or 1) <= 1:
            batch.parts.append(row)
            self._queue_outbox(batch, part_id, who.port, "sms",
                               build_sms(part_id, who, [decoded], [pdu_hex], now, self.region, missing=[]))
            return StoreResult(part_id, False, part_id, "sms")
        total = int(concat["total"])
        key = f"{who.iccid}|{decoded.get('sender')}|{concat.get('ref_bits', 8)}:{concat['ref']}|{total}"
        row.update(concat_key=key, seq=int(concat["seq"]), total=total, message_id=None)
        batch.parts.append(row)
        batch.keys.add(key)
        return StoreResult(part_id, False, None, "part")

    @staticmethod
    def _pending_messages(c: Connection, key: str) -> list[list[PendingPart]]:
        """The parts still waiting under `key`, grouped into messages (see `group_parts`)."""
        rows = c.execute(
            select(PARTS.c.id, PARTS.c.port, PARTS.c.iccid, PARTS.c.msisdn, PARTS.c.pdu, PARTS.c.seq,
                   PARTS.c.total, PARTS.c.received_at)
            .where(PARTS.c.concat_key == key, PARTS.c.message_id.is_(None))
            .order_by(PARTS.c.received_at, PARTS.c.id)
        ).all()
        return group_parts([PendingPart(*r) for r in rows])

    def _assemble(
        self, c: Connection, batch: _Batch, who: PortIdentity, parts: Sequence[PendingPart],
        now: datetime, missing: list[int],
    ) -> str:
        """Queue the message made of `parts`; a part of the same sequence number left over stays pending."""
        message_id = content_id(who.iccid, *(p.id for p in parts))
        decoded = [_decode(p.pdu).to_json() for p in parts]
        payload = build_sms(message_id, who, decoded, [p.pdu for p in parts], now, self.region,
                            missing=missing)
        c.execute(update(PARTS).where(PARTS.c.id.in_([p.id for p in parts])).values(message_id=message_id))
        log.debug("assembled %s from parts %s", message_id, [p.id for p in parts])
        self._queue_outbox(batch, message_id, who.port, "sms", payload)
        return message_id

    def _queue_outbox(self, batch: _Batch, message_id: str, port: str, kind: str,
                      payload: dict[str, Any]) -> None:
        batch.outbox.append({"id": message_id, "port": port, "kind": kind, "topic": self.topics.inbound(port),
                             "payload": json.dumps(payload, ensure_ascii=False), "created_at": utcnow(),
                             "published_at": None})

    def _announce(self, rows: list[OutboxRow]) -> None:
        """Hand rows committed just now to the listener (the relay publishes them without reading them back)."""
        if rows and self.on_new_message is not None:
            self.on_new_message(rows)

    def expire_incomplete(self, now: datetime | None = None) -> list[str]:
        """Publish, marked incomplete, every multipart message whose first part is older than the timeout."""
        now = now or utcnow()
        cutoff = now - self.reassembly_timeout
        oldest = _naive(cutoff)
        done: list[str] = []
        batch = _Batch()
        with self._lock, self.engine.begin() as c:
            query = (select(PARTS.c.concat_key)
                     .where(PARTS.c.concat_key.is_not(None), PARTS.c.message_id.is_(None),
                            PARTS.c.received_at <= cutoff)
                     .distinct())
            if self.scope is not None:
                query = query.where(self.scope.clause(PARTS.c.port))
            keys = c.scalars(query).all()
            for key in keys:
                for parts in self._pending_messages(c, key):
                    if min(_naive(p.received_at) for p in parts) > oldest:
                        continue  # a newer message under a reused reference keeps waiting
                    first = parts[0]
                    have = {p.seq for p in parts}
                    missing = [n for n in range(1, first.total + 1) if n not in have]
                    who = PortIdentity(first.port, first.iccid, first.msisdn)
                    done.append(self._assemble(c, batch, who, parts, now, missing=missing))
            fresh = write_outbox(c, batch.outbox)
        self._announce(fresh)
        return done

    def store_call(self, who: PortIdentity, caller: str | None, caller_type: int | None,
                   rang_at: datetime) -> str:
        """Commit one incoming call as a message with text [CALL]; returns its id."""
        message_id = content_id(who.iccid, "call", caller, rang_at.isoformat())
        batch = _Batch()
        self._queue_outbox(batch, message_id, who.port, "call",
                           build_call(message_id, who, caller, caller_type, rang_at, self.region))
        with self._lock, self.engine.begin() as c:
            fresh = write_outbox(c, batch.outbox)
        self._announce(fresh)
        return message_id

    def pending(self, limit: int, exclude: set[str]) -> list[OutboxRow]:
        """Outbox rows not yet acknowledged by the broker, oldest first, skipping ids in `exclude`."""
        query = select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.payload).where(OUTBOX.c.published_at.is_(None))
        if self.scope is not None:
            query = query.where(self.scope.clause(OUTBOX.c.port))
        if exclude:
            query = query.where(OUTBOX.c.id.not_in(exclude))
        with self.engine.connect() as c:
            return [OutboxRow(*r) for r in c.execute(query.order_by(OUTBOX.c.created_at).limit(limit))]

    def backlog(self, c: Connection) -> int:
        """How many outbox rows of this spool's ports are not done (for the metrics)."""
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
        if self.scope is not None:
            query = query.where(self.scope.clause(OUTBOX.c.port))
        return int(c.scalar(query) or 0)

    def mark_published(self, message_ids: Sequence[str]) -> None:
        if not message_ids:
            return
        with self.engine.begin() as c:
            c.execute(update(OUTBOX).where(OUTBOX.c.id.in_(list(message_ids))).values(published_at=utcnow()))
