"""Ingest log: a row per batch from its start; who runs it; nullable end-of-batch figures.

A batch is logged as ``running`` when it starts, with its host, process id and the
process's start time, a heartbeat, the stage it is in and how many attempts it took, so a
batch whose process was killed stays visible and is marked ``interrupted`` by the next
ingest (``recloop.data.batch_log``). Its end time and stage timings are unknown until it
ends, hence nullable.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

END_COLUMNS = ["finished_at", "seconds_read", "seconds_validate", "seconds_store"]


def _owner_columns() -> list[sa.Column]:
    """Fresh Column objects each time (a Column belongs to one table once attached)."""
    return [
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer),
        sa.Column("pid_started_at", sa.Float),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("stage", sa.String(16)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("ingest_log") as batch:
        for name in END_COLUMNS:
            batch.alter_column(name, existing_type=sa.Float, nullable=True)
        for column in _owner_columns():
            batch.add_column(column)
        batch.create_index("ix_ingest_log_status", ["status"])


def downgrade() -> None:
    # Rows of batches that never ended get their start time and zero durations back.
    op.execute("UPDATE ingest_log SET finished_at = started_at WHERE finished_at IS NULL")
    for name in END_COLUMNS[1:]:
        op.execute(f"UPDATE ingest_log SET {name} = 0 WHERE {name} IS NULL")
    with op.batch_alter_table("ingest_log") as batch:
        batch.drop_index("ix_ingest_log_status")
        for column in _owner_columns():
            batch.drop_column(column.name)
        for name in END_COLUMNS:
            batch.alter_column(name, existing_type=sa.Float, nullable=False)
