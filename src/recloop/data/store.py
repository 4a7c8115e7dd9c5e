"""The event store: open (and migrate) it, bulk-write canonical tables, read them back.

SQLite by default (``<home>/recloop.db``), PostgreSQL when ``RECLOOP_DATABASE_URL`` says so
(``postgresql+psycopg://...``). Writes are bulk: PostgreSQL gets ``COPY ... FROM STDIN``
through psycopg 3, SQLite one ``executemany`` per chunk; there are no row-by-row ORM inserts.
Catalogue upserts and updates go through a temporary staging table and one set-based
statement, and touch only the columns the batch carries.
Every public reader returns canonical columns (``recloop.columns``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Engine, event

from recloop.columns import (
    EVENT_COLUMNS,
    FIRST_SEEN_COL,
    ITEM_COLUMNS,
    TIMESTAMP_COL,
    USER_COLUMNS,
)
from recloop.data import schema
from recloop.errors import StoreUnavailableError
from recloop.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_CACHE_KIB = 256 * 1024  # page cache per SQLite connection
COPY_BLOCK_ROWS = 100_000  # rows formatted per COPY write on PostgreSQL

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def open_store(settings: Settings) -> Engine:
    """Return the store's engine, migrated to the newest schema on first use.

    Engines are cached per URL for the life of the process, so callers can call this
    freely; the Alembic upgrade runs once per URL and process.

    Args:
        settings: selects the store (``settings.store_url``).

    Returns:
        Engine: a SQLAlchemy engine whose database has every table of ``schema``.
    """
    url = settings.store_url.get_secret_value()  # to connect; never logged or raised
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            try:
                engine = _create_engine(url)  # a bad URL, or its driver not installed
                migrate(engine)  # the first connection: server down, no such database
            # ValueError: a malformed URL part, e.g. a port that is not a number.
            except (sa.exc.ArgumentError, sa.exc.OperationalError, ImportError, ValueError) as exc:
                raise StoreUnavailableError.from_exception(url, exc) from None
            _engines[url] = engine
    return engine


def dispose_stores() -> None:
    """Close every cached engine (tests, and before dropping a database)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets readers work during a bulk load; NORMAL sync is safe with WAL.

    A large page cache keeps the unique-key index of a million-row load in memory (the
    default 2 MiB cache made each insert touch disk pages).
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations in ``migrations/`` up to ``revision``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


# ---- bulk writes ---------------------------------------------------------------------


def bulk_insert(
    connection: sa.Connection, table: sa.Table, frame: pd.DataFrame, columns: Sequence[str]
) -> int:
    """Insert ``frame[columns]`` into ``table`` inside the caller's transaction.

    PostgreSQL: ``COPY`` (CSV) through psycopg; SQLite: one DBAPI ``executemany``.
    NaN/None become NULL. Returns the number of rows written.
    """
    if frame.empty:
        return 0
    if connection.dialect.name == "postgresql":
        _copy_postgres(connection, table.name, frame, columns)
    else:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        connection.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',
            list(_rows(frame, columns)),
        )
    return len(frame)


def _rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterable[tuple]:
    """Rows as plain Python tuples (numpy scalars and NaN become int/float/None)."""
    lists = []
    for column in columns:
        series = frame[column]
        values = series.astype(object).where(series.notna(), None).tolist()
        lists.append(values)
    return zip(*lists, strict=True)


def _copy_postgres(
    connection: sa.Connection, table: str, frame: pd.DataFrame, columns: Sequence[str]
) -> None:
    """``COPY table FROM STDIN`` in CSV: NULL is an unquoted empty field, text is quoted."""
    import psycopg
    from psycopg.copy import QueuedLibpqWriter

    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'COPY "{table}" ({names}) FROM STDIN WITH (FORMAT csv)'
    dbapi = connection.connection.driver_connection
    try:
        # A writer thread sends block k while Arrow formats block k+1 (both drop the GIL).
        with dbapi.cursor() as cursor, cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
            for start in range(0, len(frame), COPY_BLOCK_ROWS):
                block = frame.iloc[start : start + COPY_BLOCK_ROWS]
                copy.write(_csv_payload(block.loc[:, list(columns)]))
    except psycopg.errors.IntegrityError as exc:  # same exception type as the SQLite path
        raise sa.exc.IntegrityError(sql, None, exc) from exc


def _csv_payload(frame: pd.DataFrame) -> bytes | memoryview:
    """Headerless CSV for COPY; Arrow's writer is ~3x faster than ``DataFrame.to_csv``."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed object column: let pandas format it
        return frame.to_csv(index=False, header=False).encode()
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
    return memoryview(sink.getvalue())


def upsert(
    connection: sa.Connection,
    table: sa.Table,
    frame: pd.DataFrame,
    key: str,
    keep_when_null: Sequence[str] = (),
    update: Sequence[str] | None = None,
) -> int:
    """Insert or update catalogue rows by primary key, in the columns ``frame`` carries only.

    Set-based at any size: the rows are bulk-loaded into a temporary table (``COPY`` on
    PostgreSQL), then one ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE`` whose SET
    lists ``frame``'s columns and no other. A stored column the frame lacks keeps its value;
    a new row gets the column's default (NULL) there.

    Args:
        connection: the caller's transaction.
        table: ``schema.items`` or ``schema.users``.
        frame: the key plus the columns to write; keys must be unique.
        key: the primary-key column.
        keep_when_null: columns whose stored value stays when the new one is NULL (an items
            file without ``first_seen`` must not erase what events taught us).
        update: columns to overwrite on a known key (default: all of ``frame``'s but the
            key); empty: insert new keys only.

    Returns:
        int: rows in ``frame``.
    """
    if frame.empty:
        return 0
    columns = list(frame.columns)
    update = [c for c in columns if c != key] if update is None else list(update)
    insert = _dialect_insert(connection)
    with staging_table(connection, table, columns, key) as staging:
        bulk_insert(connection, staging, frame, columns)
        # The WHERE keeps SQLite from parsing ON CONFLICT as a join constraint.
        rows = sa.select(*[staging.c[c] for c in columns]).where(sa.true())
        statement = insert(table).from_select(columns, rows)
        if update:
            statement = statement.on_conflict_do_update(
                index_elements=[key],
                set_={
                    c: sa.func.coalesce(statement.excluded[c], table.c[c])
                    if c in keep_when_null
                    else statement.excluded[c]
                    for c in update
                },
            )
        else:
            statement = statement.on_conflict_do_nothing(index_elements=[key])
        connection.execute(statement)
    return len(frame)


def lower_to(
    connection: sa.Connection, table: sa.Table, frame: pd.DataFrame, key: str, column: str
) -> None:
    """Set ``table.column`` to ``frame.column`` where that is lower or the stored one is NULL.

    Set-based (one correlated UPDATE from a temporary table); rows of ``frame`` whose key
    is not in ``table`` are ignored. Keys must be unique.
    """
    if frame.empty:
        return
    with staging_table(connection, table, [key, column], key) as staging:
        bulk_insert(connection, staging, frame, [key, column])
        new = sa.select(staging.c[column]).where(staging.c[key] == table.c[key]).scalar_subquery()
        lower = sa.exists().where(
            staging.c[key] == table.c[key],
            sa.or_(table.c[column].is_(None), staging.c[column] < table.c[column]),
        )
        connection.execute(sa.update(table).where(lower).values({column: new}))


@contextmanager
def staging_table(
    connection: sa.Connection, like: sa.Table, columns: Sequence[str], key: str
) -> Iterator[sa.Table]:
    """A temporary table with ``columns`` typed as in ``like``, dropped after use.

    ``key`` is its primary key, so that joins back to ``like`` are index lookups at any size.

    Temporary tables live in the connection's own schema, so concurrent ingests never see
    each other's. On an error it is left to the caller's transaction, whose rollback
    removes it (a failed PostgreSQL transaction accepts no DROP).
    """
    name = f"staging_{like.name}_{uuid.uuid4().hex[:12]}"
    staging = sa.Table(
        name,
        sa.MetaData(),
        *[sa.Column(c, like.c[c].type, primary_key=c == key, autoincrement=False) for c in columns],
        prefixes=["TEMPORARY"],
    )
    staging.create(connection)
    yield staging
    staging.drop(connection)


def _dialect_insert(connection: sa.Connection):
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


# ---- reads -------------------------------------------------------------------------


def load_events(
    settings: Settings, start: int | None = None, end: int | None = None
) -> pd.DataFrame:
    """Accepted events with ``start <= timestamp < end``, in (timestamp, event_id) order.

    Args:
        settings: selects the store.
        start: inclusive lower bound (Unix seconds), or None for no bound.
        end: exclusive upper bound (Unix seconds), or None for no bound.

    Returns:
        DataFrame: canonical event columns plus ``event_id`` (int64), index 0..n-1.
    """
    table = schema.events
    query = sa.select(*_event_columns())
    if start is not None:
        query = query.where(table.c[TIMESTAMP_COL] >= int(start))
    if end is not None:
        query = query.where(table.c[TIMESTAMP_COL] < int(end))
    query = query.order_by(table.c[TIMESTAMP_COL], table.c.event_id)
    with open_store(settings).connect() as connection:
        frame = pd.read_sql(query, connection)
    return _canonical_events(frame)


def _event_columns() -> list[sa.ColumnElement]:
    table = schema.events
    return [table.c[c] for c in [*EVENT_COLUMNS, "event_id"]]


def count_events(settings: Settings, start: int | None = None, end: int | None = None) -> int:
    """Accepted events with ``start <= timestamp < end``, counted in the database.

    A range count on the time-led unique index: nothing is loaded to count a window.
    """
    table = schema.events
    query = sa.select(sa.func.count()).select_from(table)
    if start is not None:
        query = query.where(table.c[TIMESTAMP_COL] >= int(start))
    if end is not None:
        query = query.where(table.c[TIMESTAMP_COL] < int(end))
    with open_store(settings).connect() as connection:
        return int(connection.execute(query).scalar_one())


def newest_start(settings: Settings, end: int, max_events: int) -> int | None:
    """The start of the newest ``max_events`` events before ``end`` (None: fewer stored).

    One backward walk of ``max_events`` entries of the time-led index (``OFFSET``), so a
    reader can bound a window by event count instead of loading all history. Events that
    share the returned timestamp are all inside ``[start, end)``, which may therefore hold
    a few more than ``max_events``.
    """
    column = schema.events.c[TIMESTAMP_COL]
    query = (
        sa.select(column)
        .where(column < int(end))
        .order_by(column.desc())
        .offset(int(max_events) - 1)
        .limit(1)
    )
    with open_store(settings).connect() as connection:
        found = connection.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def load_user_histories(settings: Settings, start: int, end: int, before: int) -> pd.DataFrame:
    """Every event before ``before`` of the users with an event in ``[start, end)``.

    The users come from a range read of the time-led index, their events from the
    ``(user_id, timestamp)`` index: the cost follows the window's users, not the store.
    On PostgreSQL the users are passed as one array (``= ANY``): with ``IN (subquery)``
    the planner cannot see how few they are and scans the whole table.

    Returns:
        DataFrame: as :func:`load_events`, in (timestamp, event_id) order.
    """
    table = schema.events
    ts = table.c[TIMESTAMP_COL]
    active = sa.select(table.c.user_id).where(ts >= int(start), ts < int(end)).distinct()
    engine = open_store(settings)
    with engine.connect() as connection:
        if is_postgres(engine):
            from sqlalchemy.dialects.postgresql import ARRAY

            users = [int(u) for u in connection.execute(active).scalars()]
            param = sa.bindparam("users", users, type_=ARRAY(sa.BigInteger))
            wanted = table.c.user_id == sa.any_(param)
        else:
            wanted = table.c.user_id.in_(active)
        query = sa.select(*_event_columns()).where(ts < int(before), wanted)
        frame = pd.read_sql(query.order_by(ts, table.c.event_id), connection)
    return _canonical_events(frame)


def items_seen_by(settings: Settings, item_ids: Iterable[int], end: int) -> set[int]:
    """Those of ``item_ids`` first seen at or before ``end`` (the catalogue's ``first_seen``).

    Ingest keeps ``items.first_seen`` at the earliest accepted event of the item (or the
    date a catalogue file gave it), so this is a primary-key join over the asked ids, not
    a scan of the event history.
    """
    keys = pd.Series(sorted({int(i) for i in item_ids}), name="item_id", dtype="int64")
    if keys.empty:
        return set()
    items = schema.items
    with (
        open_store(settings).begin() as connection,
        staging_table(connection, items, ["item_id"], "item_id") as staging,
    ):
        bulk_insert(connection, staging, keys.to_frame(), ["item_id"])
        query = (
            sa.select(items.c.item_id)
            .join(staging, staging.c.item_id == items.c.item_id)
            .where(items.c[FIRST_SEEN_COL] <= int(end))
        )
        rows = connection.execute(query).scalars().all()
    return {int(r) for r in rows}


def _canonical_events(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("user_id", "item_id", "timestamp", "event_id"):
        frame[column] = frame[column].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    for column in ("event_type", "scenario", "session_id"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.reset_index(drop=True)


def load_items(settings: Settings) -> pd.DataFrame:
    """The item catalog in canonical columns, ordered by ``item_id``."""
    table = schema.items
    query = sa.select(*[table.c[c] for c in ITEM_COLUMNS]).order_by(table.c.item_id)
    with open_store(settings).connect() as connection:
        frame = pd.read_sql(query, connection)
    frame["item_id"] = frame["item_id"].astype("int64")
    frame["first_seen"] = frame["first_seen"].astype("Int64")
    frame["genres"] = frame["genres"].fillna("")
    for column in ("title", "year"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def load_users(settings: Settings) -> pd.DataFrame:
    """The user table in canonical columns, ordered by ``user_id``."""
    table = schema.users
    query = sa.select(*[table.c[c] for c in USER_COLUMNS]).order_by(table.c.user_id)
    with open_store(settings).connect() as connection:
        frame = pd.read_sql(query, connection)
    frame["user_id"] = frame["user_id"].astype("int64")
    frame["age"] = frame["age"].astype("Int64")
    return frame


def rows_with_keys(
    connection: sa.Connection, table: sa.Table, keys: pd.Series, columns: Sequence[str]
) -> pd.DataFrame:
    """``columns`` of the stored rows whose key (``keys.name``) is in ``keys``.

    The keys go to a temporary table and are joined, not listed in an ``IN (...)``: a
    catalogue batch of a million ids would pass PostgreSQL's 65,535 bind parameters.
    Keys must be unique.
    """
    key = str(keys.name)
    frame = keys.to_frame()
    with staging_table(connection, table, [key], key) as staging:
        bulk_insert(connection, staging, frame, [key])
        query = sa.select(*[table.c[c] for c in columns]).join(
            staging, staging.c[key] == table.c[key]
        )
        # Nullable dtypes: an integer column with a NULL must not come back as float64.
        stored = pd.read_sql(query, connection, dtype_backend="numpy_nullable")
    return stored


def known_item_ids(connection: sa.Connection) -> pd.Index:
    """Every item id in the catalog (empty when no catalog was ingested)."""
    rows = connection.execute(sa.select(schema.items.c.item_id)).scalars().all()
    return pd.Index(rows, dtype="int64")


def stored_event_keys(connection: sa.Connection, start: int, end: int) -> pd.DataFrame:
    """Natural keys and values of stored events with ``start <= timestamp <= end``."""
    table = schema.events
    query = sa.select(
        table.c.user_id, table.c.item_id, table.c.timestamp, table.c.event_type, table.c.value
    ).where(table.c.timestamp.between(int(start), int(end)))
    return pd.read_sql(query, connection)
