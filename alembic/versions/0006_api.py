"""The REST API: operators, API keys of customers and operators, the web session secret, a customer's own web
password, and who assigned an unrouted message to a customer and when.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("name", name="uq_operators_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", name="fk_api_keys_customer", ondelete="CASCADE"), nullable=True),
        sa.Column("operator_id", sa.Integer,
                  sa.ForeignKey("operators.id", name="fk_api_keys_operator", ondelete="CASCADE"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
        sa.CheckConstraint("(customer_id IS NULL) <> (operator_id IS NULL)", name="ck_api_keys_one_holder"),
    )
    op.create_index("ix_api_keys_customer_id", "api_keys", ["customer_id"])
    op.create_index("ix_api_keys_operator_id", "api_keys", ["operator_id"])
    op.create_table(
        "web_secret",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    # plain ALTER TABLE (no batch copy on SQLite: other tables' foreign keys point at these tables)
    op.add_column("customers", sa.Column("web_password_hash", sa.String(200), nullable=True))
    op.add_column("routed_messages", sa.Column("assigned_by", sa.String(64), nullable=True))
    op.add_column("routed_messages", sa.Column("assigned_at", TS, nullable=True))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+): a batch copy would trip the foreign keys pointing at these tables
    op.drop_column("routed_messages", "assigned_at")
    op.drop_column("routed_messages", "assigned_by")
    op.drop_column("customers", "web_password_hash")
    op.drop_table("web_secret")
    op.drop_index("ix_api_keys_operator_id", table_name="api_keys")
    op.drop_index("ix_api_keys_customer_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("operators")
