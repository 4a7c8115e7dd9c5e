"""The event store on SQLite and PostgreSQL: MovieLens-100k in, canonical tables out."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from recloop.data import schema
from recloop.data.ingest import ingest_frame, ingest_path
from recloop.data.store import dispose_stores, load_events, load_items, load_users, open_store
from recloop.settings import Settings


@pytest.fixture
def settings(store_url, tmp_path):
    yield Settings(home=tmp_path / "home", database_url=store_url, ingest={"data_docs": True})
    dispose_stores()


def test_movielens_100k_ingests_on_both_backends(settings, movielens_dir, movielens):
    items = ingest_path(settings, movielens_dir / "items.csv", "items")
    users = ingest_path(settings, movielens_dir / "users.csv", "users")
    events = ingest_path(settings, movielens_dir / "interactions.csv", "events")
    assert (items.status, items.accepted) == ("accepted", 1682)
    # The data rule: a year is 4 digits or null; item 267 ("unkonwn") and item 1412 ("V")
    # keep their rows, their year becomes null, and the warning is counted.
    assert items.warnings == {"year_unparseable": 2}
    assert (users.status, users.accepted) == ("accepted", 943)
    assert (events.status, events.accepted, events.quarantined) == ("accepted", 100_000, 0)
    assert events.data_docs and events.data_docs.endswith("index.html")
    docs_index = settings.gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs_index.exists() and "recloop_events" in docs_index.read_text()

    stored = load_events(settings)
    assert len(stored) == 100_000
    expected = movielens.events.sort_values("timestamp", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored.drop(columns="event_id"), expected, check_dtype=True)
    assert stored["event_id"].is_unique

    catalog = load_items(settings).set_index("item_id")
    assert catalog.loc[267, "title"] == "unkonwn" and catalog.loc[267, "year"] is None
    assert catalog.loc[1, "year"] == "1995"
    first_seen = movielens.events.groupby("item_id")["timestamp"].min()
    assert (catalog["first_seen"].loc[first_seen.index] == first_seen).all()
    assert len(load_users(settings)) == 943

    again = ingest_path(settings, movielens_dir / "interactions.csv", "events")
    assert (again.status, again.duplicates) == ("duplicate", 100_000)
    with open_store(settings).connect() as connection:
        log = connection.execute(sa.select(schema.ingest_log)).mappings().all()
    assert len(log) == 3
    for row in log:
        assert row["received"] == row["accepted"] + row["quarantined"] + row["duplicates"]
        assert json.loads(row["reasons"]) == {}


def test_load_events_window_is_half_open_and_stable(settings, movielens):
    frame = movielens.events.iloc[:3000].copy()
    tie = frame.iloc[[0]].assign(item_id=999_001)  # same timestamp, later in source order
    frame = pd.concat([frame, tie], ignore_index=True)
    report = ingest_frame(settings, frame, "events", source="test-frame")
    assert report.accepted == 3001
    stamp = int(tie["timestamp"].iloc[0])
    window = load_events(settings, start=stamp, end=stamp + 1)
    assert set(window["timestamp"]) == {stamp}
    assert window["item_id"].iloc[-1] == 999_001  # ties keep source order
    assert load_events(settings, end=stamp)["timestamp"].max() < stamp
    everything = load_events(settings)
    assert everything["timestamp"].is_monotonic_increasing
    assert len(load_events(settings, start=stamp)) + len(load_events(settings, end=stamp)) == 3001


def test_quarantine_survives_on_both_backends(settings, movielens):
    frame = movielens.events.iloc[:100].copy()
    frame["scenario"] = 'he said "hi", then \\ left'
    frame.loc[5, "value"] = 11.0
    report = ingest_frame(settings, frame, "events", source="frame")
    assert (report.status, report.quarantined, report.reasons) == (
        "partial",
        1,
        {"value_out_of_range": 1},
    )
    with open_store(settings).connect() as connection:
        [row] = connection.execute(sa.select(schema.quarantine)).mappings().all()
    raw = json.loads(row["raw"])
    assert raw["value"] == 11.0 and raw["scenario"] == 'he said "hi", then \\ left'
    assert load_events(settings)["scenario"].iloc[0] == 'he said "hi", then \\ left'


def test_migrations_create_every_table(settings):
    engine = open_store(settings)
    names = set(sa.inspect(engine).get_table_names())
    assert {"events", "items", "users", "ingest_log", "quarantine", "alembic_version"} <= names


def test_upgrade_from_first_revision_keeps_data(settings):
    from recloop.data.store import _create_engine, migrate

    engine = _create_engine(settings.store_url.get_secret_value())
    migrate(engine, "0001")
    row = {
        "user_id": 1,
        "item_id": 2,
        "event_type": "rating",
        "value": 4.0,
        "timestamp": 881250949,
        "batch_id": "b",
    }
    with engine.begin() as connection:
        connection.execute(sa.insert(schema.events), [row])
    migrate(engine, "head")
    with engine.begin() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar() == 1
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(schema.events), [row])
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("events")}
    assert "ix_events_timestamp" not in indexes
    engine.dispose()


def test_cli_partial_batch_on_both_backends(store_url, recloop, write_batch, ml_lines, monkeypatch):
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    bad = ["196,242,7,881250949", "196,243,3,881250949000", ",244,3,881250949"]
    result = recloop("ingest", write_batch([*ml_lines[:100], *bad]), "--json")
    assert result.exit_code == 0, result.stderr
    assert (result.report["accepted"], result.report["reasons"]) == (
        100,
        {"value_out_of_range": 1, "timestamp_in_milliseconds": 1, "missing_user_id": 1},
    )
    shown = recloop("quarantine", "show", result.report["batch_id"], "--json").report["rows"]
    assert [row["row_number"] for row in shown] == [101, 102, 103]
    dispose_stores()


def test_bulk_insert_key_clash_is_an_integrity_error_on_both_backends(settings):
    from recloop.data.store import bulk_insert

    row = pd.DataFrame(
        [
            {
                "user_id": 1,
                "item_id": 2,
                "event_type": "rating",
                "value": 4.0,
                "timestamp": 881250949,
                "batch_id": "b",
            }
        ]
    )
    engine = open_store(settings)
    with engine.begin() as connection:
        bulk_insert(connection, schema.events, row, list(row.columns))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        bulk_insert(connection, schema.events, row, list(row.columns))
    assert len(load_events(settings)) == 1


def test_ingest_log_upgrade_keeps_old_batches_and_downgrade_closes_running_ones(settings):
    """0003: old rows count one attempt; a row of a running batch survives a downgrade."""
    from recloop.data.store import _create_engine, migrate

    engine = _create_engine(settings.store_url.get_secret_value())
    migrate(engine, "0002")
    old = {
        "batch_id": "a" * 64,
        "kind": "events",
        "source": "/data/week-1.csv",
        "status": "accepted",
        "received": 3,
        "accepted": 3,
        "quarantined": 0,
        "duplicates": 0,
        "reasons": "{}",
        "warnings": "{}",
        "started_at": 100.0,
        "finished_at": 101.0,
        "seconds_read": 0.1,
        "seconds_validate": 0.2,
        "seconds_store": 0.3,
    }
    log = sa.table("ingest_log", *[sa.column(c) for c in old])
    with engine.begin() as connection:
        connection.execute(sa.insert(log), [old])
    migrate(engine, "head")
    running = {**old, "batch_id": "b" * 64, "status": "running", "finished_at": None}
    running.update(seconds_read=None, seconds_validate=None, seconds_store=None)
    with engine.begin() as connection:
        [row] = connection.execute(sa.select(schema.ingest_log)).mappings().all()
        assert (row["attempts"], row["host"], row["finished_at"]) == (1, None, 101.0)
        connection.execute(sa.insert(schema.ingest_log), [{**running, "pid": 7}])
    _downgrade(engine, "0002")
    with engine.begin() as connection:
        rows = connection.execute(sa.text("SELECT * FROM ingest_log ORDER BY batch_id"))
        rows = [dict(r) for r in rows.mappings()]
    assert [r["finished_at"] for r in rows] == [101.0, 100.0]
    assert rows[1]["seconds_store"] == 0 and "pid" not in rows[1]
    engine.dispose()


def _downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from recloop.data.store import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
