"""Registry: customers, SIM slots, whitelists, sent log, routed messages, registry version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("mqtt_password_hash", sa.String(200), nullable=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("http_url", sa.Text, nullable=True),
        sa.Column("smpp_system_id", sa.String(16), nullable=True),
        sa.Column("forward_msisdn", sa.String(20), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("login", name="uq_customers_login"),
    )
    op.create_table(
        "sim_slots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("bank", sa.Integer, nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("iccid", sa.String(20), nullable=False),
        sa.Column("imsi", sa.String(15), nullable=True),
        sa.Column("msisdn", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("customers.id", name="fk_sim_slots_owner"), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("port", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("bank", "slot", name="uq_sim_slots_bank_slot"),
        sa.UniqueConstraint("iccid", name="uq_sim_slots_iccid"),
        sa.UniqueConstraint("msisdn", name="uq_sim_slots_msisdn"),
    )
    op.create_index("ix_sim_slots_owner_id", "sim_slots", ["owner_id"])
    op.create_table(
        "whitelist",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slot_id", sa.Integer,
                  sa.ForeignKey("sim_slots.id", name="fk_whitelist_slot", ondelete="CASCADE"), nullable=False),
        sa.Column("sender_name", sa.String(32), nullable=False),
        sa.Column("sender_key", sa.String(32), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("approved_at", TS, nullable=False),
        sa.UniqueConstraint("slot_id", "sender_key", name="uq_whitelist_slot_sender"),
    )
    op.create_table(
        "sent_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_subscriber", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("customers.id", name="fk_sent_log_owner"), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
    )
    op.create_index("ix_sent_log_to_at", "sent_log", ["to_subscriber", "at"])
    op.create_index("ix_sent_log_at", "sent_log", ["at"])
    op.create_table(
        "routed_messages",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(32), nullable=True),
        sa.Column("number", sa.Text, nullable=True),
        sa.Column("number_kind", sa.String(16), nullable=True),
        sa.Column("sender", sa.Text, nullable=True),
        sa.Column("rule", sa.String(16), nullable=True),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("routed_at", TS, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("published_at", TS, nullable=True),
    )
    op.create_index("ix_routed_messages_owner_received", "routed_messages", ["owner", "received_at"])
    op.create_index("ix_routed_messages_status_received", "routed_messages", ["status", "received_at"])
    version = op.create_table(
        "registry_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.bulk_insert(version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("registry_version")
    op.drop_index("ix_routed_messages_status_received", "routed_messages")
    op.drop_index("ix_routed_messages_owner_received", "routed_messages")
    op.drop_table("routed_messages")
    op.drop_index("ix_sent_log_at", "sent_log")
    op.drop_index("ix_sent_log_to_at", "sent_log")
    op.drop_table("sent_log")
    op.drop_table("whitelist")
    op.drop_index("ix_sim_slots_owner_id", "sim_slots")
    op.drop_table("sim_slots")
    op.drop_table("customers")
