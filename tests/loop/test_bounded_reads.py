"""A loop step reads windows, never the whole history: the bounded store reads it uses.

Real MovieLens-100k events on SQLite and PostgreSQL. Each bounded read is checked against
the same answer computed in pandas from the full event table, so the bounds change what
is read, not what the step sees (until ``loop.max_history_events`` cuts the past).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest

from recloop.data.ingest import ingest_frame
from recloop.data.store import (
    count_events,
    dispose_stores,
    items_seen_by,
    load_events,
    load_user_histories,
    newest_start,
)
from recloop.evaluation.protocols import next_window_cases
from recloop.loop.plan import StepPlan, holdout_cases, new_event_count, older_events
from recloop.loop.stages import replay_events
from recloop.settings import Settings

from ..integration.conftest import fresh_database

DAY = 86_400


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stored(request, tmp_path_factory, movielens):
    """The first 20,000 MovieLens-100k events in time (and their items), once per back end.

    Module-scoped (one ingest per back end); tests that change settings get a copy.
    """
    events = movielens.events.sort_values("timestamp", kind="stable").head(20_000)
    items = movielens.items[movielens.items["item_id"].isin(events["item_id"])]
    home = tmp_path_factory.mktemp("bounded")
    url = f"sqlite:///{home / 'store.db'}"
    database = nullcontext(url)
    if request.param == "postgresql":
        database = fresh_database(request.getfixturevalue("pg_server_url"), "recloop_t")
    with database as url:
        settings = Settings(home=home / "home", database_url=url)
        ingest_frame(settings, items, "items")
        ingest_frame(settings, events, "events")
        yield settings, load_events(settings)
        dispose_stores()


def _plan(everything: pd.DataFrame, days_back: float, holdout_days: float) -> StepPlan:
    end = int(everything["timestamp"].max()) + 1
    holdout = int(end - holdout_days * DAY)
    return StepPlan("incremental", int(end - days_back * DAY), holdout, end, None)


def test_counts_and_user_histories_match_the_full_table(stored):
    settings, everything = stored
    plan = _plan(everything, 10, 2)
    ts = everything["timestamp"]
    assert new_event_count(settings, plan) == int((ts >= plan.train_start).sum())
    assert count_events(settings) == len(everything)
    assert count_events(settings, None, plan.holdout_start) == int((ts < plan.holdout_start).sum())

    users = everything.loc[ts >= plan.holdout_start, "user_id"].unique()
    expected = everything[everything["user_id"].isin(users)].reset_index(drop=True)
    got = load_user_histories(settings, plan.holdout_start, plan.window_end, plan.window_end)
    pd.testing.assert_frame_equal(got, expected)
    assert 0 < len(got) < len(everything)


def test_newest_start_bounds_a_window_by_event_count(stored):
    settings, everything = stored
    end = int(everything["timestamp"].iloc[15_000])
    before = everything[everything["timestamp"] < end]
    start = newest_start(settings, end, 5_000)
    inside = before[before["timestamp"] >= start]
    # The newest 5,000 events are inside; only events tied at `start` may add to them.
    assert len(inside) >= 5_000
    assert len(inside[inside["timestamp"] > start]) < 5_000
    assert newest_start(settings, end, len(before) + 1) is None

    settings = settings.model_copy(deep=True)
    settings.loop.max_history_events = 5_000
    pd.testing.assert_frame_equal(older_events(settings, None, end), inside.reset_index(drop=True))
    # A start later than the bound wins: the window is never widened.
    late = int(before["timestamp"].iloc[-100])
    assert older_events(settings, late, end)["timestamp"].min() >= late


def test_items_seen_by_asks_the_store(stored):
    settings, everything = stored
    cut = int(everything["timestamp"].iloc[10_000])
    known = set(everything.loc[everything["timestamp"] <= cut, "item_id"])
    asked = [*everything["item_id"].drop_duplicates().tolist(), 10**9]
    assert items_seen_by(settings, asked, cut) == known
    assert items_seen_by(settings, [], cut) == set()


def test_holdout_cases_equal_the_cases_built_from_all_events(stored):
    settings, everything = stored
    plan = _plan(everything, 10, 2)
    expected = next_window_cases(
        everything, plan.holdout_start, plan.window_end - plan.holdout_start
    )
    got = holdout_cases(settings, plan)
    np.testing.assert_array_equal(got.user_ids, expected.user_ids)
    np.testing.assert_array_equal(got.timestamps, expected.timestamps)
    np.testing.assert_array_equal(got.cold_items, expected.cold_items)
    for a, b in zip(got.histories, expected.histories, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [t.tolist() for t in got.targets] == [t.tolist() for t in expected.targets]


def test_replay_is_all_older_events_until_the_bound_then_newest_plus_context(stored):
    settings, everything = stored
    plan = _plan(everything, 10, 2)
    older = everything[everything["timestamp"] < plan.train_start].reset_index(drop=True)
    pd.testing.assert_frame_equal(replay_events(settings, plan), older)

    settings = settings.model_copy(deep=True)
    settings.loop.max_history_events = 2_000
    bounded = replay_events(settings, plan)
    new_users = everything.loc[
        (everything["timestamp"] >= plan.train_start)
        & (everything["timestamp"] < plan.holdout_start),
        "user_id",
    ].unique()
    context = older[older["user_id"].isin(new_users)]
    cut = newest_start(settings, plan.train_start, 2_000)
    expected_ids = set(context["event_id"]) | set(older.loc[older["timestamp"] >= cut, "event_id"])
    assert set(bounded["event_id"]) == expected_ids
    assert len(bounded) < len(older)
    assert bounded["timestamp"].is_monotonic_increasing


def test_the_drift_reference_has_its_own_bound(stored):
    """The step's drift check reads the newest ``drift.max_reference_events`` older events,
    whatever bound the replay pool has."""
    from recloop.data.store import load_items
    from recloop.loop.stages import check_drift

    settings, everything = stored
    settings = settings.model_copy(deep=True)
    settings.drift.max_reference_events = 3_000
    settings.drift.log_to_mlflow = False
    settings.loop.max_history_events = 10**9
    plan = _plan(everything, 10, 2)
    result = check_drift(settings, plan, load_items(settings))
    expected = older_events(settings, None, plan.train_start, 3_000)
    assert 3_000 <= len(expected) < 3_100  # only events tied at the cut add to the 3,000
    assert result.reference_summary["events"] == len(expected)
    assert result.reference_window == (int(expected["timestamp"].min()), plan.train_start)
