"""EXPLAIN ANALYZE of the event store's hot queries on a PostgreSQL store (prints).

    .venv/bin/python benchmarks/store_explain.py postgresql+psycopg://postgres@host/db

The queries are the ones a loop step sends (compiled from ``recloop.data.store`` and
``recloop.loop.plan``), on the newest day of the store: the window read, the count, the
bounds, the history bound, the users' histories and the cold-item check.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa

from recloop.data import schema
from recloop.data.store import _event_columns

DAY = 86_400


def queries(end: int, users: list[int]) -> dict[str, sa.Select]:
    events = schema.events
    ts = events.c.timestamp
    day = end - DAY
    active = sa.select(events.c.user_id).where(ts >= day, ts < end).distinct()
    targets = sa.select(events.c.item_id).where(ts >= end - DAY // 4).distinct().scalar_subquery()
    return {
        "event_bounds (plan_step)": sa.select(sa.func.min(ts), sa.func.max(ts)),
        "count_events (new_event_count)": sa.select(sa.func.count())
        .select_from(events)
        .where(ts >= day, ts < end),
        "load_events of a day (train window)": sa.select(*_event_columns())
        .where(ts >= day, ts < end)
        .order_by(ts, events.c.event_id),
        "newest_start, 5M (history bound)": sa.select(ts)
        .where(ts < day)
        .order_by(ts.desc())
        .offset(4_999_999)
        .limit(1),
        "active users of the day (load_user_histories, step 1)": active,
        "load_user_histories, step 2 (holdout / context)": sa.select(*_event_columns())
        .where(ts < end, events.c.user_id == sa.any_(_bigint_array(users)))
        .order_by(ts, events.c.event_id),
        "items_seen_by (cold targets)": sa.select(schema.items.c.item_id).where(
            schema.items.c.item_id.in_(targets), schema.items.c.first_seen <= end - DAY // 4
        ),
    }


def _bigint_array(values: list[int]) -> sa.ColumnElement:
    """The users as one array literal, as the bound array parameter reaches the server."""
    return sa.literal_column(f"ARRAY[{','.join(map(str, values))}]::bigint[]")


def main() -> int:
    engine = sa.create_engine(sys.argv[1])
    with engine.connect() as connection:
        end = int(connection.execute(sa.select(sa.func.max(schema.events.c.timestamp))).scalar())
        total = connection.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar()
        print(f"events: {total:,}")
        ts = schema.events.c.timestamp
        active = sa.select(schema.events.c.user_id).where(ts >= end + 1 - DAY).distinct()
        users = [int(u) for u in connection.execute(active).scalars()]
        for name, query in queries(end + 1, users).items():
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
            print(f"\n-- {name}\n{sql};")
            for (line,) in plan:
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
