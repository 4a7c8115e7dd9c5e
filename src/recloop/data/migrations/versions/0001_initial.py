"""Initial event store: events, items, users, ingest_log, quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("item_id", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("scenario", sa.String(64)),
        sa.Column("session_id", sa.String(128)),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("user_id", "item_id", "timestamp", "event_type", name="uq_events_key"),
    )
    op.create_index("ix_events_timestamp", "events", ["timestamp"])
    op.create_table(
        "items",
        sa.Column("item_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("title", sa.Text),
        sa.Column("year", sa.String(16)),
        sa.Column("genres", sa.Text),
        sa.Column("first_seen", sa.BigInteger),
        sa.Column("batch_id", sa.String(64)),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("age", sa.Integer),
        sa.Column("gender", sa.String(16)),
        sa.Column("occupation", sa.String(64)),
        sa.Column("zip_code", sa.String(16)),
        sa.Column("batch_id", sa.String(64)),
    )
    op.create_table(
        "ingest_log",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("accepted", sa.BigInteger, nullable=False),
        sa.Column("quarantined", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("warnings", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=False),
        sa.Column("seconds_read", sa.Float, nullable=False),
        sa.Column("seconds_validate", sa.Float, nullable=False),
        sa.Column("seconds_store", sa.Float, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "quarantine",
        sa.Column("quarantine_id", AutoId, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("row_number", sa.BigInteger, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_quarantine_batch", "quarantine", ["batch_id", "row_number"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_batch", "quarantine")
    op.drop_table("quarantine")
    op.drop_table("ingest_log")
    op.drop_table("users")
    op.drop_table("items")
    op.drop_index("ix_events_timestamp", "events")
    op.drop_table("events")
