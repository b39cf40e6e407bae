"""The web pages' live inbox: indexes on when a message was routed and when an operator assigned it, which the
stream of new messages polls by.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_routed_messages_routed_at", "routed_messages", ["routed_at"])
    op.create_index("ix_routed_messages_assigned_at", "routed_messages", ["assigned_at"])


def downgrade() -> None:
    op.drop_index("ix_routed_messages_assigned_at", table_name="routed_messages")
    op.drop_index("ix_routed_messages_routed_at", table_name="routed_messages")
