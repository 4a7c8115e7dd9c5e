"""Drift checks on a real MovieLens week: clean stays quiet, every injected shift is caught."""

from __future__ import annotations

import numpy as np
import pytest

from recloop.drift import run_drift_check
from recloop.drift.shifts import SHIFTS
from recloop.errors import UnusableInputError
from recloop.evaluation.baselines import PopularityScorer

from .conftest import week_case

WEEK_UNDER_TEST = 12


@pytest.fixture(scope="module")
def case(movielens):
    return week_case(movielens, WEEK_UNDER_TEST)


@pytest.fixture(scope="module")
def scorer(case):
    """The 'champion': popularity fitted on the reference (a real, if simple, scorer)."""
    return PopularityScorer(case.reference, case.items["item_id"].to_numpy())


def _check(settings, case, current, items, scorer):
    return run_drift_check(
        settings,
        case.reference,
        current,
        items,
        scorer=scorer,
        reference_window=case.reference_window,
        current_window=case.current_window,
        save_report=False,
    )


def test_clean_week_does_not_alarm(drift_settings, case, scorer):
    result = _check(drift_settings, case, case.current, case.items, scorer)
    assert not result.drift_detected, result.drifted_features
    assert result.share_drifted == 0.0
    tested = [s for s in result.feature_stats if s.skipped is None]
    assert len(tested) == len(result.feature_stats) == 20
    ref_rel, cur_rel = result.relevance
    assert 0 < cur_rel < 1 and 0 < ref_rel < 1


@pytest.mark.parametrize("shift", sorted(SHIFTS))
def test_injected_shift_is_detected(drift_settings, case, scorer, shift):
    current, items = SHIFTS[shift](case.current, case.items, np.random.default_rng(1))
    result = _check(drift_settings, case, current, items, scorer)
    assert result.drift_detected, f"{shift} not detected"
    # The features that should carry each shift (any of them).
    expected = {
        "category_mix": {"categories.category", "users.top_category"},
        "rating_inflation": {"events.value", "users.mean_value", "items.mean_value"},
        "popularity_collapse": {
            "categories.category",
            "model.next_rank_pct",
            "events.item_pop_rank",
        },
        "new_item_flood": {"events.item_is_new", "items.is_new"},
        "bot_users": {"items.mean_value", "events.value", "users.mean_value"},
    }[shift]
    hits = expected & set(result.drifted_features)
    assert hits, result.drifted_features
    stat = result.stat(sorted(hits)[0])
    assert stat.score >= stat.threshold and stat.reference_summary != stat.current_summary


def test_empty_or_tiny_windows(drift_settings, case):
    with pytest.raises(UnusableInputError, match="current window has no events"):
        _check(drift_settings, case, case.current.iloc[:0], case.items, None)
    tiny = _check(drift_settings, case, case.current.iloc[:20], case.items, None)
    skipped = [s for s in tiny.feature_stats if s.skipped]
    assert skipped and "too few rows" in skipped[0].skipped
    assert not any(s.drifted for s in skipped)
