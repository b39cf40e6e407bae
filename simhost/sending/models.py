"""The send queue's tables: one row per requested SMS, one per part put on the air."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simhost.models import Base, utcnow

TS = DateTime(timezone=True)

# States of a send; FINAL ones never change again.
QUEUED, SENDING, SENT, DELIVERED, FAILED, UNKNOWN = "queued", "sending", "sent", "delivered", "failed", "unknown"
FINAL = frozenset({DELIVERED, FAILED, UNKNOWN})


class Send(Base):
    """One SMS a customer asked to send: accepted means stored here; `state` is where it stands."""

    __tablename__ = "sends"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("customers.id", name="fk_sends_owner"))
    client_id: Mapped[str | None] = mapped_column(String(128))  # the customer's idempotency key
    requested_from: Mapped[str] = mapped_column(String(20))  # an MSISDN, or "shared"
    from_number: Mapped[str | None] = mapped_column(String(20))  # the number it goes out on
    iccid: Mapped[str | None] = mapped_column(String(20))  # that number's SIM
    port: Mapped[str | None] = mapped_column(String(64))  # the port whose modem holds that SIM
    to_number: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    report: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    parts: Mapped[int] = mapped_column(Integer, default=1)
    concat_ref: Mapped[int] = mapped_column(Integer, default=0)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    source: Mapped[str] = mapped_column(String(8))  # mqtt | cli | smpp | forward
    receipt_channel: Mapped[str | None] = mapped_column(String(8))  # smpp: a receipt is owed there when final
    receipt_sent_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    __table_args__ = (
        UniqueConstraint("owner_id", "client_id", name="uq_sends_owner_client_id"),
        Index("ix_sends_port_state", "port", "state", "next_try_at"),
        Index("ix_sends_state_due", "state", "next_try_at"),
    )


class SendPart(Base):
    """One part of a send as it went on the air: `mr` is the message reference the modem answered."""

    __tablename__ = "send_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    send_id: Mapped[str] = mapped_column(ForeignKey("sends.id", name="fk_send_parts_send", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # sending | sent | delivered | failed | unknown
    mr: Mapped[int | None] = mapped_column(Integer)
    port: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)  # TP-ST of its status report
    sent_at: Mapped[datetime | None] = mapped_column(TS)
    reported_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        UniqueConstraint("send_id", "seq", name="uq_send_parts_send_seq"),
        Index("ix_send_parts_port_mr", "port", "mr", "state"),
    )
