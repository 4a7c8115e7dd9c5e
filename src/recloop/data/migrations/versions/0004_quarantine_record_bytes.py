"""Quarantine: keep each row's exact source bytes (base64) beside its parsed fields.

The ``raw`` JSON holds the fields as parsed; a row the parser could not split (an
unbalanced quote, too many fields), a NUL byte or bytes that are not UTF-8 need the
bytes themselves. Base64 because PostgreSQL text cannot hold NUL or invalid UTF-8.
Rows quarantined before this revision have no bytes (NULL).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("record_base64", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("record_base64")
