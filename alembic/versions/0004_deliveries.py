"""Deliveries: the queue of routed messages to deliver over the customers' channels, each try recorded, and
the customers' webhook signing secrets.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy on SQLite: other tables' foreign keys point at customers)
    op.add_column("customers", sa.Column("http_secret", sa.String(128), nullable=True))
    op.add_column("customers", sa.Column("http_secret_previous", sa.String(128), nullable=True))
    op.add_column("customers", sa.Column("http_secret_rotated_at", TS, nullable=True))
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(128),
                  sa.ForeignKey("routed_messages.id", name="fk_deliveries_message", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("next_try_at", TS, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.UniqueConstraint("message_id", "owner", "channel", name="uq_deliveries_message_owner_channel"),
    )
    op.create_index("ix_deliveries_state_due", "deliveries", ["state", "next_try_at"])
    op.create_index("ix_deliveries_owner_created", "deliveries", ["owner", "created_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_id", sa.Integer,
                  sa.ForeignKey("deliveries.id", name="fk_delivery_attempts_delivery", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_delivery_id", "delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_owner_created", "deliveries")
    op.drop_index("ix_deliveries_state_due", "deliveries")
    op.drop_table("deliveries")
    op.drop_column("customers", "http_secret_rotated_at")
    op.drop_column("customers", "http_secret_previous")
    op.drop_column("customers", "http_secret")
