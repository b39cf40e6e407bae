"""SMPP accounts: the customer's SMPP password (hashed) and how long messages reach it, and the delivery
receipts owed for sends made over SMPP.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ALTER TABLE (no batch copy on SQLite: other tables' foreign keys point at customers and sends)
    op.add_column("customers", sa.Column("smpp_password_hash", sa.String(200), nullable=True))
    op.add_column("customers", sa.Column("smpp_long_mode", sa.String(8), nullable=True))
    # a bind names its customer by system_id alone (NULLs, customers without SMPP, do not collide)
    op.create_index("uq_customers_smpp_system_id", "customers", ["smpp_system_id"], unique=True)
    op.add_column("sends", sa.Column("receipt_channel", sa.String(8), nullable=True))
    op.add_column("sends", sa.Column("receipt_sent_at", TS, nullable=True))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+): a batch copy would trip the foreign keys pointing at these tables
    op.drop_column("sends", "receipt_sent_at")
    op.drop_column("sends", "receipt_channel")
    op.drop_index("uq_customers_smpp_system_id", "customers")
    op.drop_column("customers", "smpp_long_mode")
    op.drop_column("customers", "smpp_password_hash")
