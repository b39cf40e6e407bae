"""The access tables: operators (people who run the bank), API keys of customers and operators, the web secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from simhost.models import Base, utcnow

TS = DateTime(timezone=True)


class Operator(Base):
    """An operator: signs in to the web with the password `simhost operator add` printed, or uses API keys."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    __table_args__ = (UniqueConstraint("name", name="uq_operators_name"),)


class ApiKey(Base):
    """An API key `sk_<key_id>_<secret>` of one customer or one operator; only the secret's SHA-256 is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))  # public: shown in listings and used to revoke
    secret_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the secret
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", name="fk_api_keys_customer", ondelete="CASCADE"), index=True)
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", name="fk_api_keys_operator", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (
        UniqueConstraint("key_id", name="uq_api_keys_key_id"),
        CheckConstraint("(customer_id IS NULL) <> (operator_id IS NULL)", name="ck_api_keys_one_holder"),
    )


class WebSecret(Base):
    """One row (id 1): the key web session cookies are signed with, shared by every web server on the database."""

    __tablename__ = "web_secret"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
