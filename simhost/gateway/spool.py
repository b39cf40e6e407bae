"""The gateway's durable spool: parts are committed before the SIM copy is deleted, messages leave on PUBACK."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from simhost.gateway.message import build_call, build_sms, build_undecodable
from simhost.models import InboundPart, OutboxMessage, StatusReport, utcnow
from simhost.topics import Topics
from simhost_drivers.pdu import PduError, decode_pdu

log = logging.getLogger("simhost.spool")

REASSEMBLY_TIMEOUT_S = 24 * 3600


def content_id(*fields: object) -> str:
    """A stable id: the first 32 hex digits of the SHA-256 of the fields joined by '|'."""
    raw = "|".join("" if f is None else str(f) for f in fields)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PortIdentity:
    """What the spool needs to know of the port a part came from."""

    port: str
    iccid: str
    msisdn: str | None


@dataclass(frozen=True)
class StoreResult:
    """What storing one PDU did: `message_id` is set when a whole message entered the outbox."""

    part_id: str
    duplicate: bool
    message_id: str | None
    kind: str


class Spool:
    """Inbound parts, multipart reassembly and the outbox, in one database; safe across threads."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        topics: Topics,
        region: str,
        *,
        reassembly_timeout_s: float = REASSEMBLY_TIMEOUT_S,
        on_new_message: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
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
        results = []
        cleaned = [p.strip().upper() for p in pdus]
        ids = [content_id(who.iccid, p) for p in cleaned]
        with self._lock, self.sessions.begin() as s:
            # one lookup for the whole batch instead of one per part: this path is the gateway's hot loop
            known = set(s.scalars(select(InboundPart.id).where(InboundPart.id.in_(ids))))
            known.update(s.scalars(select(StatusReport.id).where(StatusReport.id.in_(ids))))
            for part_id, pdu_hex in zip(ids, cleaned, strict=True):
                if part_id in known:
                    results.append(StoreResult(part_id, True, None, "duplicate"))
                    continue
                known.add(part_id)
                results.append(self._store_one(s, who, part_id, pdu_hex, now))
        if any(r.message_id is not None for r in results) and self.on_new_message is not None:
            self.on_new_message()
        return results

    def _store_one(self, s: Session, who: PortIdentity, part_id: str, pdu_hex: str, now: datetime) -> StoreResult:
        """Store a part not yet in the spool."""
        try:
            decoded = decode_pdu(pdu_hex).to_json()
            error = None
        except PduError as exc:
            decoded, error = None, str(exc)
        if decoded is None:
            log.warning("%s: undecodable PDU kept for inspection (%s): %s", who.port, error, pdu_hex)
            s.add(InboundPart(id=part_id, port=who.port, iccid=who.iccid, msisdn=who.msisdn, pdu=pdu_hex,
                              received_at=now, message_id=part_id))
            payload = build_undecodable(part_id, who, pdu_hex, str(error), now)
            self._add_outbox(s, part_id, who.port, "undecodable", payload, new_id=True)
            return StoreResult(part_id, False, part_id, "undecodable")
        if decoded.get("type") == "SMS-STATUS-REPORT":
            s.add(StatusReport(id=part_id, port=who.port, iccid=who.iccid, pdu=pdu_hex, received_at=now))
            return StoreResult(part_id, False, None, "status-report")
        return self._store_sms_part(s, who, part_id, pdu_hex, decoded, now)

    def _store_sms_part(
        self, s: Session, who: PortIdentity, part_id: str, pdu_hex: str, decoded: dict[str, Any],
        now: datetime,
    ) -> StoreResult:
        concat = decoded.get("concat")
        if not concat or int(concat.get("total") or 1) <= 1:
            message_id = part_id
            s.add(InboundPart(id=part_id, port=who.port, iccid=who.iccid, msisdn=who.msisdn, pdu=pdu_hex,
                              received_at=now, message_id=message_id))
            payload = build_sms(message_id, who, [decoded], [pdu_hex], now, self.region, missing=[])
            self._add_outbox(s, message_id, who.port, "sms", payload, new_id=True)
            return StoreResult(part_id, False, message_id, "sms")
        total = int(concat["total"])
        seq = int(concat["seq"])
        key = f"{who.iccid}|{decoded.get('sender')}|{concat.get('ref_bits', 8)}:{concat['ref']}|{total}"
        s.add(InboundPart(id=part_id, port=who.port, iccid=who.iccid, msisdn=who.msisdn, pdu=pdu_hex, received_at=now,
                          concat_key=key, seq=seq, total=total))
        s.flush()
        parts = self._pending_parts(s, key)
        if len({p.seq for p in parts}) < total:
            return StoreResult(part_id, False, None, "part")
        message_id = self._assemble(s, who, parts, now, missing=[])
        return StoreResult(part_id, False, message_id, "sms")

    @staticmethod
    def _pending_parts(s: Session, key: str) -> list[InboundPart]:
        rows = s.scalars(
            select(InboundPart)
            .where(InboundPart.concat_key == key, InboundPart.message_id.is_(None))
            .order_by(InboundPart.seq, InboundPart.received_at)
        ).all()
        first_per_seq: dict[int, InboundPart] = {}
        for row in rows:
            first_per_seq.setdefault(row.seq, row)
        return [first_per_seq[k] for k in sorted(first_per_seq)]

    def _assemble(
        self, s: Session, who: PortIdentity, parts: Sequence[InboundPart], now: datetime,
        missing: list[int],
    ) -> str:
        message_id = content_id(who.iccid, *(p.id for p in parts))
        decoded = [decode_pdu(p.pdu).to_json() for p in parts]
        payload = build_sms(message_id, who, decoded, [p.pdu for p in parts], now, self.region,
                            missing=missing)
        ids = [p.id for p in parts]
        key = parts[0].concat_key
        s.execute(
            update(InboundPart)
            .where(InboundPart.concat_key == key, InboundPart.message_id.is_(None))
            .values(message_id=message_id)
        )
        log.debug("assembled %s from parts %s", message_id, ids)
        self._add_outbox(s, message_id, who.port, "sms", payload)
        return message_id

    def expire_incomplete(self, now: datetime | None = None) -> list[str]:
        """Publish, marked incomplete, every multipart message whose first part is older than the timeout."""
        now = now or utcnow()
        cutoff = now - self.reassembly_timeout
        done: list[str] = []
        with self._lock, self.sessions.begin() as s:
            keys = s.scalars(
                select(InboundPart.concat_key)
                .where(InboundPart.concat_key.is_not(None), InboundPart.message_id.is_(None),
                       InboundPart.received_at <= cutoff)
                .distinct()
            ).all()
            for key in keys:
                if key is None:
                    continue
                parts = self._pending_parts(s, key)
                if not parts:
                    continue
                first = parts[0]
                have = {p.seq for p in parts}
                missing = [n for n in range(1, first.total + 1) if n not in have]
                who = PortIdentity(first.port, first.iccid, first.msisdn)
                done.append(self._assemble(s, who, parts, now, missing=missing))
        if done and self.on_new_message is not None:
            self.on_new_message()
        return done

    def store_call(self, who: PortIdentity, caller: str | None, caller_type: int | None,
                   rang_at: datetime) -> str:
        """Commit one incoming call as a message with text [CALL]; returns its id."""
        message_id = content_id(who.iccid, "call", caller, rang_at.isoformat())
        with self._lock, self.sessions.begin() as s:
            if s.get(OutboxMessage, message_id) is None:
                payload = build_call(message_id, who, caller, caller_type, rang_at, self.region)
                self._add_outbox(s, message_id, who.port, "call", payload)
        if self.on_new_message is not None:
            self.on_new_message()
        return message_id

    def _add_outbox(self, s: Session, message_id: str, port: str, kind: str,
                    payload: dict[str, Any], *, new_id: bool = False) -> None:
        """Queue `payload`; `new_id` when the id comes from a part stored just now and so cannot exist yet."""
        if not new_id and s.get(OutboxMessage, message_id) is not None:
            return
        s.add(OutboxMessage(
            id=message_id, port=port, kind=kind, topic=self.topics.inbound(port),
            payload=json.dumps(payload, ensure_ascii=False), created_at=utcnow(),
        ))

    def pending(self, limit: int, exclude: set[str]) -> list[OutboxMessage]:
        """Outbox rows not yet acknowledged by the broker, oldest first, skipping ids in `exclude`."""
        query = select(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        if exclude:
            query = query.where(OutboxMessage.id.not_in(exclude))
        with self.sessions() as s:
            return list(s.scalars(query.order_by(OutboxMessage.created_at).limit(limit)).all())

    def mark_published(self, message_ids: Sequence[str]) -> None:
        if not message_ids:
            return
        with self.sessions.begin() as s:
            s.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(list(message_ids)))
                .values(published_at=utcnow())
            )
