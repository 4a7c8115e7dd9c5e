"""Catalogue batches change only the columns they carry, on SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from recloop.data.store import dispose_stores, load_items, load_users
from recloop.settings import Settings

EVENTS = 2000  # real events, so that items have a first_seen to keep


@pytest.fixture
def store(store_url, recloop, movielens_dir, write_batch, ml_lines, monkeypatch):
    """Settings of a store (each backend) with the real catalogue and 2,000 real events."""
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    for path in (movielens_dir / "items.csv", movielens_dir / "users.csv", write_batch(ml_lines)):
        result = recloop("ingest", path, "--json")
        assert (result.exit_code, result.report["status"]) == (0, "accepted"), result.stderr
    settings = Settings()
    assert load_items(settings)["first_seen"].notna().sum() > 100
    yield settings
    dispose_stores()


def _unchanged(before: pd.DataFrame, after: pd.DataFrame, key: str, columns, ids) -> None:
    left = before.set_index(key).loc[list(ids), list(columns)]
    right = after.set_index(key).loc[list(ids), list(columns)]
    pd.testing.assert_frame_equal(left, right)


def test_items_batch_with_titles_only_keeps_years_genres_and_first_seen(
    store, recloop, write_batch
):
    before = load_items(store)
    lines = [
        '1,"Toy Story, Remastered"',
        "2,GoldenEye",
        "50,Star Wars: A New Hope",
        "5000,Brand New",
    ]
    result = recloop(
        "ingest", write_batch(lines, header="item_id,title"), "--kind", "items", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = result.report
    # Item 2's title is what is stored already: a duplicate; the others are written.
    assert (report["accepted"], report["duplicates"]) == (3, 1)
    after = load_items(store).set_index("item_id")
    assert list(after.loc[[1, 2, 50, 5000], "title"]) == [
        "Toy Story, Remastered",
        "GoldenEye",
        "Star Wars: A New Hope",
        "Brand New",
    ]
    _unchanged(before, after.reset_index(), "item_id", ["year", "genres", "first_seen"], [1, 2, 50])
    assert after.loc[1, "year"] == "1995" and after.loc[1, "genres"] != ""
    # A new item gets NULL wherever the batch says nothing.
    assert after.loc[5000, "year"] is None and pd.isna(after.loc[5000, "first_seen"])
    assert after.loc[5000, "genres"] == ""
    untouched = before.item_id[~before.item_id.isin([1, 2, 50])]
    _unchanged(before, after.reset_index(), "item_id", ["title", "year", "genres"], untouched)
    assert len(after) == len(before) + 1


def test_titles_with_a_year_set_it_and_titles_without_keep_it(store, recloop, write_batch):
    """A year the reader splits off "Title (1999)" is written; no year in a title is no news."""
    before = load_items(store).set_index("item_id")
    result = recloop(
        "ingest", write_batch(['1,"Toy Story (1999)"', "3,Four Rooms"], header="item_id,title")
    )
    assert result.exit_code == 0, result.stderr
    after = load_items(store).set_index("item_id")
    assert (after.loc[1, "title"], after.loc[1, "year"]) == ("Toy Story", "1999")
    assert (after.loc[3, "title"], after.loc[3, "year"]) == ("Four Rooms", before.loc[3, "year"])
    assert before.loc[3, "year"] == "1995"


def test_users_batch_with_one_column_keeps_the_demographics(store, recloop, write_batch):
    before = load_users(store)
    lines = ["1,writer", "2,doctor", "3,writer", "9001,student"]
    result = recloop("ingest", write_batch(lines, header="user_id,occupation"), "--json")
    assert result.exit_code == 0, result.stderr
    # User 3 is a writer already: a duplicate, not written again.
    assert (result.report["kind"], result.report["accepted"], result.report["duplicates"]) == (
        "users",
        3,
        1,
    )
    after = load_users(store)
    indexed = after.set_index("user_id")
    assert list(indexed.loc[[1, 2, 3, 9001], "occupation"]) == [
        "writer",
        "doctor",
        "writer",
        "student",
    ]
    _unchanged(before, after, "user_id", ["age", "gender", "zip_code"], [1, 2, 3])
    assert indexed.loc[1, "age"] == 24 and indexed.loc[1, "gender"] == "M"
    assert pd.isna(indexed.loc[9001, "age"]) and indexed.loc[9001, "zip_code"] is None
    _unchanged(before, after, "user_id", ["age", "occupation"], before.user_id[3:])


def test_large_users_batch_is_written_set_based(store, recloop, tmp_path):
    """70,000 rows, more than PostgreSQL's 65,535 bind parameters: every real user's zip
    code updated, 69,057 new users, nothing else moved."""
    before = load_users(store)
    ids = range(1, 70_001)
    frame = pd.DataFrame({"user_id": ids, "zip_code": [f"Z{i:05d}" for i in ids]})
    path = tmp_path / "zips.csv"
    frame.to_csv(path, index=False)
    result = recloop("ingest", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert (result.report["accepted"], result.report["duplicates"]) == (70_000, 0)
    after = load_users(store)
    assert len(after) == 70_000
    assert list(after.zip_code) == list(frame.zip_code)
    _unchanged(before, after, "user_id", ["age", "gender", "occupation"], before.user_id)
    assert after.set_index("user_id").loc[944:, "age"].isna().all()
