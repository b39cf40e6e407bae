"""The registry's tables (SQLAlchemy 2 typed models) and the version counter a router polls to reload."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from simhost.models import Base, utcnow

TS = DateTime(timezone=True)


class Customer(Base):
    """A customer ("owner"): receives the messages of its numbers; its login is its MQTT user name."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    mqtt_password_hash: Mapped[str | None] = mapped_column(String(200))
    # a web sign-in password of its own (`simhost owner password LOGIN --web`); without one, the MQTT password
    web_password_hash: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(Text)
    http_url: Mapped[str | None] = mapped_column(Text)
    # the webhook signing secret, kept as given (it must sign); the previous one still signs for a day after a rotation
    http_secret: Mapped[str | None] = mapped_column(String(128))
    http_secret_previous: Mapped[str | None] = mapped_column(String(128))
    http_secret_rotated_at: Mapped[datetime | None] = mapped_column(TS)
    smpp_system_id: Mapped[str | None] = mapped_column(String(16))
    smpp_password_hash: Mapped[str | None] = mapped_column(String(200))
    smpp_long_mode: Mapped[str | None] = mapped_column(String(8))  # udh (None) | payload: how long texts arrive
    forward_msisdn: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    __table_args__ = (UniqueConstraint("login", name="uq_customers_login"),
                      Index("uq_customers_smpp_system_id", "smpp_system_id", unique=True))


class SimSlot(Base):
    """A SIM in a bank slot: its ICCID, its number (MSISDN), the number's kind and, if dedicated, its owner."""

    __tablename__ = "sim_slots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer)
    iccid: Mapped[str] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(15))
    msisdn: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", name="fk_sim_slots_owner"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    port: Mapped[str | None] = mapped_column(String(64))
    # rotation: a pinned slot stays its port's active one; when its SIM was last seen online (the gateway's)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_online_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("bank", "slot", name="uq_sim_slots_bank_slot"),
        UniqueConstraint("iccid", name="uq_sim_slots_iccid"),
        UniqueConstraint("msisdn", name="uq_sim_slots_msisdn"),
    )


class WhitelistEntry(Base):
    """An alphanumeric sender name approved for one hosted-company number."""

    __tablename__ = "whitelist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("sim_slots.id", name="fk_whitelist_slot", ondelete="CASCADE"))
    sender_name: Mapped[str] = mapped_column(String(32))
    sender_key: Mapped[str] = mapped_column(String(32))  # sender_name casefolded: what matching compares
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    __table_args__ = (UniqueConstraint("slot_id", "sender_key", name="uq_whitelist_slot_sender"),)


class SentLog(Base):
    """One SMS a customer sent to a subscriber, for reply attribution (ids only grow: routers poll by id)."""

    __tablename__ = "sent_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_number: Mapped[str] = mapped_column(String(32))  # E.164 MSISDN or an alphanumeric sender name
    to_subscriber: Mapped[str] = mapped_column(String(32))  # E.164
    owner_id: Mapped[int] = mapped_column(ForeignKey("customers.id", name="fk_sent_log_owner"))
    at: Mapped[datetime] = mapped_column(TS)
    source: Mapped[str] = mapped_column(String(8))  # mqtt | cli | port

    __table_args__ = (
        Index("ix_sent_log_to_at", "to_subscriber", "at"),
        Index("ix_sent_log_at", "at"),
    )


class RoutedMessage(Base):
    """The router's decision on one inbound message, keyed by message id, with the payload it published."""

    __tablename__ = "routed_messages"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # routed | unrouted | rejected
    owner: Mapped[str | None] = mapped_column(String(32))
    number: Mapped[str | None] = mapped_column(Text)  # as the gateway reported it, unchecked
    number_kind: Mapped[str | None] = mapped_column(String(16))
    sender: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(TS)
    routed_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    topic: Mapped[str] = mapped_column(Text)  # where the payload was published
    payload: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(TS)
    # an unrouted or rejected message an operator gave to a customer: who and when
    assigned_by: Mapped[str | None] = mapped_column(String(64))
    assigned_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        Index("ix_routed_messages_owner_received", "owner", "received_at"),
        Index("ix_routed_messages_status_received", "status", "received_at"),
        Index("ix_routed_messages_routed_at", "routed_at"),  # the web's live inbox polls by these two
        Index("ix_routed_messages_assigned_at", "assigned_at"),
    )


class RegistryVersion(Base):
    """One row (id 1) whose `version` every registry change increments in its own transaction."""

    __tablename__ = "registry_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)


def bump_version(session: Session) -> None:
    """Mark the registry changed; call inside the transaction that changes it."""
    done = session.execute(
        update(RegistryVersion).where(RegistryVersion.id == 1).values(version=RegistryVersion.version + 1)
    )
    if getattr(done, "rowcount", 0) == 0:
        session.execute(insert(RegistryVersion).values(id=1, version=1))


def current_version(session: Session) -> int:
    """The registry's version: one cheap row a running router polls."""
    return session.scalar(select(RegistryVersion.version).where(RegistryVersion.id == 1)) or 0
