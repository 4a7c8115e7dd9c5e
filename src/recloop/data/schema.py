"""The event store's tables (SQLAlchemy 2 Core metadata, shared by ORM-free bulk loads).

The schema is created and evolved only by the Alembic migrations in ``migrations/``;
``metadata`` here mirrors the head revision so that queries and bulk inserts are typed.
Tables hold canonical columns (see ``recloop.columns``) plus bookkeeping:

- ``events``: one row per accepted behaviour event; ``event_id`` (autoincrement) keeps
  source order for events with equal timestamps. The natural key
  (user, item, timestamp, event type) is unique, which makes re-ingest idempotent.
- ``items`` / ``users``: catalogs keyed by their ids, upserted by ingest in the columns the
  batch carries only.
- ``ingest_log``: one row per batch, written when the batch starts (status ``running``) and
  closed when it ends; ``batch_id`` is the content hash (see ``recloop.data.batch_log``).
- ``quarantine``: every rejected row with its raw content (fields as JSON, and the exact
  source bytes in base64) and reason codes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("event_id", AutoId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, nullable=False),
    Column("item_id", BigInteger, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("value", Float, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("scenario", String(64)),
    Column("session_id", String(128)),
    Column("batch_id", String(64), nullable=False),
    # Led by timestamp: time-ordered loads append to it, and it serves time-window reads.
    UniqueConstraint("timestamp", "user_id", "item_id", "event_type", name="uq_events_key"),
    # The histories of a window's users (gate holdout, training context) without a scan.
    Index("ix_events_user_time", "user_id", "timestamp"),
)

items = Table(
    "items",
    metadata,
    Column("item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("title", Text),
    Column("year", String(16)),
    Column("genres", Text),
    Column("first_seen", BigInteger),
    Column("batch_id", String(64)),
)

users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("age", Integer),
    Column("gender", String(16)),
    Column("occupation", String(64)),
    Column("zip_code", String(16)),
    Column("batch_id", String(64)),
)

ingest_log = Table(
    "ingest_log",
    metadata,
    Column("batch_id", String(64), primary_key=True),  # SHA-256 of kind + content
    Column("kind", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("status", String(16), nullable=False),  # see recloop.data.batch_log
    Column("received", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("quarantined", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON: reason code -> rows
    Column("warnings", Text, nullable=False),  # JSON: warning code -> rows
    Column("started_at", Float, nullable=False),  # Unix seconds
    Column("finished_at", Float),  # null while running, and for a batch that died
    Column("seconds_read", Float),
    Column("seconds_validate", Float),
    Column("seconds_store", Float),
    Column("message", Text),
    # Who runs (ran) the batch, so that a batch whose process died can be told from one
    # that is still running: host, pid and the process's start time (a reused pid is
    # another process), plus a heartbeat for processes on other hosts.
    Column("host", String(255)),
    Column("pid", Integer),
    Column("pid_started_at", Float),
    Column("heartbeat_at", Float),
    Column("stage", String(16)),  # validating | storing while running
    Column("attempts", Integer, nullable=False, server_default="1"),
    Index("ix_ingest_log_status", "status"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", AutoId, primary_key=True, autoincrement=True),
    Column("batch_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("row_number", BigInteger, nullable=False),  # 1-based data row in the source
    Column("reasons", Text, nullable=False),  # comma-separated reason codes
    Column("raw", Text, nullable=False),  # JSON object: the row's fields as received
    # base64 of the row's exact bytes in its source file (null for Parquet/DataFrames)
    Column("record_base64", Text),
    Column("created_at", Float, nullable=False),
    Index("ix_quarantine_batch", "batch_id", "row_number"),
)
