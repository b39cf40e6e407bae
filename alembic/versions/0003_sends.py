"""Sends: the queue of SMS customers asked to send, and their parts as they went on the air.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sends",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("customers.id", name="fk_sends_owner"), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=True),
        sa.Column("requested_from", sa.String(20), nullable=False),
        sa.Column("from_number", sa.String(20), nullable=True),
        sa.Column("iccid", sa.String(20), nullable=True),
        sa.Column("port", sa.String(64), nullable=True),
        sa.Column("to_number", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("report", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("parts", sa.Integer, nullable=False),
        sa.Column("concat_ref", sa.Integer, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("next_try_at", TS, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("owner_id", "client_id", name="uq_sends_owner_client_id"),
    )
    op.create_index("ix_sends_port_state", "sends", ["port", "state", "next_try_at"])
    op.create_index("ix_sends_state_due", "sends", ["state", "next_try_at"])
    op.create_table(
        "send_parts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("send_id", sa.String(64),
                  sa.ForeignKey("sends.id", name="fk_send_parts_send", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mr", sa.Integer, nullable=True),
        sa.Column("port", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("reported_at", TS, nullable=True),
        sa.UniqueConstraint("send_id", "seq", name="uq_send_parts_send_seq"),
    )
    op.create_index("ix_send_parts_port_mr", "send_parts", ["port", "mr", "state"])


def downgrade() -> None:
    op.drop_index("ix_send_parts_port_mr", "send_parts")
    op.drop_table("send_parts")
    op.drop_index("ix_sends_state_due", "sends")
    op.drop_index("ix_sends_port_state", "sends")
    op.drop_table("sends")
