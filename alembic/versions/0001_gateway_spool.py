"""Gateway spool: ports, inbound parts, outbox, status reports.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ports",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("driver", sa.String(32), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "inbound_parts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("port", sa.String(64), nullable=False),
        sa.Column("iccid", sa.String(24), nullable=False),
        sa.Column("msisdn", sa.String(20), nullable=True),
        sa.Column("pdu", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("concat_key", sa.String(200), nullable=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_inbound_parts_pending", "inbound_parts", ["concat_key", "message_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("port", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(256), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
    )
    op.create_index("ix_outbox_pending", "outbox", ["published_at", "created_at"])
    op.create_table(
        "status_reports",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("port", sa.String(64), nullable=False),
        sa.Column("iccid", sa.String(24), nullable=False),
        sa.Column("pdu", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("status_reports")
    op.drop_index("ix_outbox_pending", "outbox")
    op.drop_table("outbox")
    op.drop_index("ix_inbound_parts_pending", "inbound_parts")
    op.drop_table("inbound_parts")
    op.drop_table("ports")
