"""Readers: GroupLens' original layouts, Parquet and DataFrames all land in canonical form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recloop.data.ingest import ingest_frame, ingest_path
from recloop.data.readers import infer_kind, read_batch, read_dataset
from recloop.data.store import load_events, load_items

N_EVENTS = 500


@pytest.fixture(scope="module")
def slice_(movielens):
    """500 real events, the items they touch (one with a non-ASCII title), their users."""
    events = movielens.events.iloc[:N_EVENTS].reset_index(drop=True)
    items = movielens.items[movielens.items.item_id.isin(events.item_id)].reset_index(drop=True)
    items.loc[0, "title"] = "Café Society"
    users = movielens.users[movielens.users.user_id.isin(events.user_id)].reset_index(drop=True)
    return events, items, users


@pytest.mark.parametrize("layout", ["ml-100k", "ml-1m", "ml-latest"])
def test_grouplens_layouts_read_as_canonical(layout, grouplens_writers, slice_, tmp_path):
    events, items, users = slice_
    grouplens_writers[layout](tmp_path / "ds", events, items, users)
    dataset = read_dataset(tmp_path / "ds")
    pd.testing.assert_frame_equal(dataset.events, events, check_dtype=False)
    got = dataset.items.set_index("item_id").loc[items.item_id]
    assert list(got.title) == list(items.title)  # "(1995)" split off; latin-1 decoded
    assert got.loc[items.item_id[0], "title"] == "Café Society"
    real_years = items.year.where(items.year.str.fullmatch(r"\d{4}").fillna(False))
    assert list(got.year.where(got.year.notna(), None)) == list(
        real_years.where(real_years.notna(), None)
    )
    assert list(got.genres) == list(items.genres)
    if layout != "ml-latest":
        assert sorted(dataset.users.user_id) == sorted(users.user_id)


def test_grouplens_files_ingest_through_the_cli(
    recloop, grouplens_writers, slice_, tmp_path, workspace
):
    events, items, users = slice_
    grouplens_writers["ml-100k"](tmp_path / "ml", events, items, users)
    assert infer_kind(tmp_path / "ml" / "u.item") == "items"
    item_report = recloop("ingest", tmp_path / "ml" / "u.item", "--json").report
    event_report = recloop("ingest", tmp_path / "ml" / "u.data", "--json").report
    assert (item_report["kind"], item_report["accepted"]) == ("items", len(items))
    assert (event_report["kind"], event_report["accepted"]) == ("events", N_EVENTS)
    assert len(load_events(workspace)) == N_EVENTS
    assert "Café Society" in set(load_items(workspace).title)


def test_parquet_batch(slice_, tmp_path, workspace):
    events = slice_[0].copy()
    events.loc[3, "timestamp"] = events.loc[3, "timestamp"] * 1000
    path = tmp_path / "events.parquet"
    events.to_parquet(path)
    report = ingest_path(workspace, path)
    assert (report.accepted, report.reasons) == (N_EVENTS - 1, {"timestamp_in_milliseconds": 1})


def test_frame_ingest_matches_file_ingest(slice_, workspace):
    events = slice_[0].rename(columns={"value": "rating"})[
        ["user_id", "item_id", "rating", "timestamp"]
    ]
    report = ingest_frame(workspace, events, "events", source="replay-week-1")
    assert (report.status, report.accepted, report.source) == (
        "accepted",
        N_EVENTS,
        "replay-week-1",
    )
    again = ingest_frame(workspace, events.copy(), "events", source="replay-week-1")
    assert again.status == "duplicate" and again.batch_id == report.batch_id
    stored = load_events(workspace)
    assert np.array_equal(np.sort(stored.value.to_numpy()), np.sort(events.rating.to_numpy()))


def test_read_batch_keeps_raw_text_of_bad_numbers(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("user_id,item_id,rating,timestamp\n1,2,3,881250949\nx,2,3,881250949\n")
    raw = read_batch(path)
    assert list(raw.frame.user_id) == ["1", "x"] and list(raw.row_numbers) == [1, 2]
