"""Window features on real MovieLens weeks, checked against direct (slow) computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recloop.drift.features import (
    CHUNK_COL,
    FEATURE_KINDS,
    FeatureOptions,
    assign_chunks,
    item_first_seen,
    next_item_cases,
    window_features,
)
from recloop.evaluation.baselines import PopularityScorer

from .conftest import WEEK, week_case


def test_tables_have_one_row_per_event_user_item_and_category(movielens):
    case = week_case(movielens, 10)
    first_seen = item_first_seen(movielens.events, case.items, WEEK)
    feats = window_features(
        case.current, case.items, case.current_window[1], first_seen, FeatureOptions(WEEK)
    )
    cur = case.current
    assert len(feats.tables["events"]) == len(cur)
    assert len(feats.tables["users"]) == cur["user_id"].nunique()
    assert len(feats.tables["items"]) == cur["item_id"].nunique()
    genres_per_item = case.items.set_index("item_id")["genres"].str.split("|").str.len()
    assert len(feats.tables["categories"]) == int(cur["item_id"].map(genres_per_item).sum())
    for table, kinds in FEATURE_KINDS.items():
        if table in feats.tables:
            assert list(feats.tables[table].columns) == list(kinds)
    # Mean rating per user, recomputed directly.
    users = feats.tables["users"]["mean_value"].to_numpy()
    direct = cur.groupby("user_id")["value"].mean().sort_index().to_numpy()
    np.testing.assert_allclose(np.sort(users), np.sort(direct))
    assert set(feats.tables["events"]["item_is_new"]) <= {"new", "old"}


def test_reference_is_cut_into_current_length_chunks(movielens):
    case = week_case(movielens, 8)
    chunked = assign_chunks(case.reference, case.reference_window[1], WEEK)
    expected = chunked.groupby([CHUNK_COL, "user_id"]).ngroups
    first_seen = item_first_seen(movielens.events, case.items, WEEK)
    feats = window_features(
        case.reference, case.items, case.reference_window[1], first_seen, FeatureOptions(WEEK)
    )
    assert feats.summary["chunks"] == 8
    assert len(feats.tables["users"]) == expected  # a user active in 3 weeks counts 3 times
    # Activity is per chunk: no user-week exceeds the busiest real user-week.
    busiest = chunked.groupby([CHUNK_COL, "user_id"]).size().max()
    assert np.expm1(feats.tables["users"]["activity"]).max() == pytest.approx(busiest)


def test_first_seen_is_censored_at_the_start_and_catalog_dates_win(movielens):
    events = movielens.events
    seen = item_first_seen(events, None, WEEK)
    start = events["timestamp"].min()
    first = events.groupby("item_id")["timestamp"].min()
    assert seen[first[first < start + WEEK].index].isna().all()
    late = first[first >= start + WEEK]
    assert (seen[late.index] == late.astype(float)).all()
    items = movielens.items.copy()
    items["first_seen"] = pd.array([None] * len(items), dtype="Int64")
    items.loc[items["item_id"] == late.index[0], "first_seen"] = int(late.iloc[0]) + 10
    assert item_first_seen(events, items, WEEK)[late.index[0]] == late.iloc[0] + 10


def test_next_item_cases_match_a_direct_loop(movielens):
    case = week_case(movielens, 12)
    ev = assign_chunks(case.current, case.current_window[1], WEEK)
    ev = ev.sort_values([CHUNK_COL, "user_id", "timestamp"], kind="stable").reset_index(drop=True)
    histories, targets = next_item_cases(ev)
    expected_h, expected_t = [], []
    for _, rows in ev.groupby("user_id", sort=True):
        items = rows["item_id"].tolist()
        if len(items) >= 2:
            expected_h.append(items[:-1])
            expected_t.append(items[-1])
    assert histories == expected_h
    assert targets.tolist() == expected_t


def test_model_signals_rank_the_next_item_among_unseen_items(movielens):
    case = week_case(movielens, 12)
    scorer = PopularityScorer(case.reference, case.items["item_id"].to_numpy())
    first_seen = item_first_seen(movielens.events, case.items, WEEK)
    options = FeatureOptions(WEEK, k=10, max_model_users=10_000)
    feats = window_features(
        case.current, case.items, case.current_window[1], first_seen, options, scorer
    )
    ev = assign_chunks(case.current, case.current_window[1], WEEK)
    ev = ev.sort_values([CHUNK_COL, "user_id", "timestamp"], kind="stable")
    histories, targets = next_item_cases(ev.reset_index(drop=True))
    counts = pd.Series(scorer.counts, index=scorer.item_ids)
    hits = []
    for history, target in zip(histories, targets, strict=True):
        unseen = counts.drop(index=[i for i in history if i in counts.index])
        hits.append(int((unseen > counts[target]).sum() < 10))
    assert feats.summary["relevance_cases"] == len(targets)
    assert feats.summary["relevance_hit_rate"] == np.mean(hits)
    assert 0 < np.mean(hits) < 1
    assert (feats.tables["model"]["score_top"] >= feats.tables["model"]["score_next"]).all()


@given(st.lists(st.integers(-9_000_000_000, 9_000_000_000), min_size=1, max_size=50))
def test_hour_and_weekday_match_pandas_datetimes(seconds):
    from recloop.drift.features import hour_and_weekday

    when = pd.to_datetime(pd.Series(seconds, dtype="int64"), unit="s", utc=True)
    hour, weekday = hour_and_weekday(np.asarray(seconds, dtype="int64"))
    assert list(hour) == list(when.dt.hour.astype(str))
    assert list(weekday) == list(when.dt.day_name())
