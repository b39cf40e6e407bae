"""The delivery queue's tables: one delivery per (routed message, owner, channel) and one attempt per try."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simhost.models import Base, utcnow

TS = DateTime(timezone=True)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"  # stopped for good by the endpoint or by policy (410, a private address); `retry` revives it
DEAD = "dead"  # every try failed: a dead letter
STATES = (PENDING, DELIVERED, FAILED, DEAD)

HTTP = "http"
EMAIL = "email"
SMPP = "smpp"  # taken by the SMPP server while the customer is bound, not by the delivery workers
SMS = "sms"
CHANNELS = (HTTP, EMAIL, SMPP, SMS)


class Delivery(Base):
    """One routed message to deliver to one owner over one channel, and where that stands."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("routed_messages.id", name="fk_deliveries_message", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # message | call: the webhook's X-Simhost-Event
    state: Mapped[str] = mapped_column(String(16))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(TS)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        UniqueConstraint("message_id", "owner", "channel", name="uq_deliveries_message_owner_channel"),
        Index("ix_deliveries_state_due", "state", "next_try_at"),
        Index("ix_deliveries_owner_created", "owner", "created_at"),
    )


class DeliveryAttempt(Base):
    """One try of a delivery: when, what came of it, the HTTP status or the error, and how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", name="fk_delivery_attempts_delivery", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(TS)
    result: Mapped[str] = mapped_column(String(16))  # delivered | retry | failed | dead
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer)
