"""SIM rotation: a slot can be pinned (its port never switches away from it), and the last time each slot's SIM
was online.

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy on SQLite: the whitelist's foreign key points at this table)
    op.add_column("sim_slots", sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("sim_slots", sa.Column("last_online_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+): a batch copy would trip the foreign key pointing at this table
    op.drop_column("sim_slots", "last_online_at")
    op.drop_column("sim_slots", "pinned")
