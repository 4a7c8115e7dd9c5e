"""Events: an index on (user_id, timestamp) for reading the histories of a window's users.

The gate's holdout cases and incremental training read the earlier events of the users
active in a short window (their history). Without this index that read is a scan of the
whole event table, which grows without bound; with it, it reads those users' rows only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_user_time", "events", ["user_id", "timestamp"])


def downgrade() -> None:
    op.drop_index("ix_events_user_time", table_name="events")
