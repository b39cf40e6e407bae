"""The database schema (SQLAlchemy 2 typed models): ports, the inbound spool and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every simhost table."""


class Port(Base):
    """A modem port the gateway drives: a name and a pyserial URL (a stable udev path, not ttyUSBn)."""

    __tablename__ = "ports"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    driver: Mapped[str | None] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InboundPart(Base):
    """One SMS PDU read from a SIM, committed before the SIM copy is deleted; its id is its content hash."""

    __tablename__ = "inbound_parts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    port: Mapped[str] = mapped_column(String(64))
    iccid: Mapped[str] = mapped_column(String(24))
    msisdn: Mapped[str | None] = mapped_column(String(20))
    pdu: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    concat_key: Mapped[str | None] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer, default=1)
    total: Mapped[int] = mapped_column(Integer, default=1)
    message_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_inbound_parts_pending", "concat_key", "message_id"),)


class OutboxMessage(Base):
    """A normalized message waiting for (or past) the broker's PUBACK; payload is the JSON sent."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    port: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(256))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_outbox_pending", "published_at", "created_at"),)


class StatusReport(Base):
    """A delivery status report (+CDS / +CDSI) as received, kept for the sends it reports on."""

    __tablename__ = "status_reports"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    port: Mapped[str] = mapped_column(String(64))
    iccid: Mapped[str] = mapped_column(String(24))
    pdu: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
