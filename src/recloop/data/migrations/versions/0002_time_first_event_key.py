"""Events: natural key led by timestamp; drop the separate timestamp index.

Bulk loads arrive in time order, so a key that starts with ``timestamp`` grows at its end
instead of taking random B-tree inserts, and the same index serves time-window reads
(``load_events``), which makes ``ix_events_timestamp`` redundant.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_KEY = ["user_id", "item_id", "timestamp", "event_type"]
NEW_KEY = ["timestamp", "user_id", "item_id", "event_type"]


def upgrade() -> None:
    op.drop_index("ix_events_timestamp", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_key", type_="unique")
        batch.create_unique_constraint("uq_events_key", NEW_KEY)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_key", type_="unique")
        batch.create_unique_constraint("uq_events_key", OLD_KEY)
    op.create_index("ix_events_timestamp", "events", ["timestamp"])
