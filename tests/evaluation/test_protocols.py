"""Protocols on real MovieLens-100k: split sizes, stable tie order, next-window cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recloop.errors import UnusableInputError
from recloop.evaluation.protocols import (
    activity_bucket,
    leave_one_out,
    loo_cases,
    next_window_cases,
)

WEEK = 7 * 86400


@pytest.fixture(scope="module")
def split(movielens):
    return leave_one_out(movielens.events)


def test_leave_one_out_sizes_on_movielens(movielens, split):
    assert len(split.test) == 943
    assert len(split.valid) == 943
    assert len(split.train) == 100_000 - 2 * 943
    assert split.test["user_id"].is_unique and split.valid["user_id"].is_unique
    cases = loo_cases(split, "test")
    assert len(cases) == 943
    assert all(
        len(h) + 1 == n
        for h, n in zip(
            cases.histories,
            movielens.events.groupby("user_id").size().loc[cases.user_ids],
            strict=True,
        )
    )


def test_test_item_is_the_last_in_source_order_among_ties(movielens, split):
    """415 users tie at their last timestamp; the stable sort picks the later file row."""
    events = movielens.events.reset_index(names="row")
    last_ts = events.groupby("user_id")["timestamp"].transform("max")
    at_last = events[events["timestamp"] == last_ts]
    tied_users = at_last.groupby("user_id").size()
    assert int((tied_users > 1).sum()) == 415
    expected = at_last.sort_values("row").groupby("user_id")["item_id"].last()
    got = split.test.set_index("user_id")["item_id"].loc[expected.index]
    assert (got == expected).all()


def test_leave_one_out_small_users_keep_a_training_event():
    events = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 2, 3],
            "item_id": [10, 11, 20, 21, 22, 30],
            "timestamp": [5, 5, 1, 3, 2, 9],
        }
    )
    split = leave_one_out(events)
    assert split.test.set_index("user_id")["item_id"].to_dict() == {1: 11, 2: 21}
    assert split.valid.set_index("user_id")["item_id"].to_dict() == {2: 22}
    assert sorted(split.train["item_id"]) == [10, 20, 30]
    valid = loo_cases(split, "valid")
    assert list(valid.user_ids) == [2] and list(valid.histories[0]) == [20]
    test = loo_cases(split, "test")
    assert [list(h) for h in test.histories] == [[10], [20, 22]]
    assert [list(e) for e in test.exclude] == [[10], [20, 22]]


def test_next_window_cases_include_earlier_window_events(movielens):
    events = movielens.events
    t = int(np.quantile(events["timestamp"], 0.6))
    cases = next_window_cases(events, t, WEEK)
    window = events[(events["timestamp"] > t) & (events["timestamp"] <= t + WEEK)]
    first_ever = events.sort_values("timestamp", kind="stable").drop_duplicates("user_id")
    new_user_first_events = first_ever["timestamp"].between(t + 1, t + WEEK).sum()
    assert len(cases) == len(window) - new_user_first_events
    assert 38 <= len(np.unique(cases.user_ids)) <= 128
    before = events[events["timestamp"] <= t]
    assert (
        cases.cold_items.tolist()
        == (~np.isin([t_[0] for t_ in cases.targets], before["item_id"].unique())).tolist()
    )
    # A user new in the window: the history of a later case holds the earlier window event.
    new_users = set(window["user_id"]) - set(before["user_id"])
    user = sorted(new_users & set(cases.user_ids))[0]
    rows = np.flatnonzero(cases.user_ids == user)
    assert len(cases.histories[rows[0]]) >= 1
    assert all(cases.timestamps[rows] > t)


def test_next_window_without_cases_is_a_clear_error(movielens):
    end = int(movielens.events["timestamp"].max())
    with pytest.raises(UnusableInputError, match="no event"):
        next_window_cases(movielens.events, end, WEEK)


def test_activity_buckets():
    labels = activity_bucket(np.array([0, 19, 20, 49, 50, 250]), [20, 50, 100])
    assert labels.tolist() == ["<20", "<20", "20-49", "20-49", "50-99", ">=100"]
