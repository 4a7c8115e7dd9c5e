"""Cutting the replay's log into windows: by time, by event count, and the default rule.

Properties run on generated logs (heavy ties included: Beauty's timestamps have day
resolution); the default rule is checked on the real logs it was chosen for.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.errors import UnusableInputError
from recloop.loop.windows import (
    WEEK_SECONDS,
    Every,
    count_windows,
    default_steps,
    parse_every,
    plan_replay,
    time_windows,
)

DAY = 86_400
RULE = {"base_fraction": 0.7, "max_steps": 10, "step_budget_events": 1_000_000}

# Sorted logs with many ties: timestamps drawn from a small range, then sorted.
logs = st.lists(st.integers(0, 60), min_size=1, max_size=200).map(
    lambda xs: np.sort(np.asarray(xs, dtype=np.int64) * 1000, kind="stable")
)


def _check_partition(times: np.ndarray, cut: int, windows, complete: bool) -> None:
    """Base and windows hold each event once, in time order, spans contiguous."""
    base = int(np.searchsorted(times, cut, side="left"))
    assert (times[:base] < cut).all()
    position = base
    for window in windows:
        assert window.lo == position and window.hi >= window.lo  # consecutive, no gap
        assert window.start < window.end
        span = times[window.lo : window.hi]
        assert ((span >= window.start) & (span < window.end)).all()
        position = window.hi
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start  # contiguous in time, in time order
    if complete:
        assert position == len(times)  # every event in exactly one place
        assert sum(w.events for w in windows) == len(times) - base


@settings(max_examples=200, deadline=None)
@given(logs, st.integers(1, 40), st.integers(-5, 70))
def test_count_windows_partition_the_log_without_splitting_ties(times, size, cut_step):
    cut = cut_step * 1000
    windows = count_windows(times, cut, size)
    _check_partition(times, cut, windows, complete=True)
    for index, window in enumerate(windows):
        # No timestamp is on both sides of a boundary.
        if window.hi < len(times):
            assert times[window.hi - 1] < times[window.hi]
        if window.lo > 0:
            assert times[window.lo - 1] < times[window.lo]
        last = index == len(windows) - 1
        if window.events > size:  # only a tie at the N-th event forces more
            assert times[window.lo + size - 1] == times[window.hi - 1]
        elif not last:
            assert window.events == size
        assert window.events >= 1


@settings(max_examples=200, deadline=None)
@given(logs, st.integers(500, 20_000), st.integers(-5, 70))
def test_time_windows_partition_the_log_into_periods(times, seconds, cut_step):
    cut = cut_step * 1000
    windows = time_windows(times, cut, seconds)
    _check_partition(times, cut, windows, complete=True)
    for window in windows[:-1]:
        assert window.end - window.start == seconds
    if windows:
        assert windows[0].start == cut and windows[-1].end == int(times[-1]) + 1
        assert windows[-1].end - windows[-1].start <= seconds


@settings(max_examples=100, deadline=None)
@given(logs, st.integers(1, 30), st.integers(1, 5))
def test_a_limit_keeps_the_first_windows(times, size, limit):
    cut = int(times[0]) + 1000
    everything = count_windows(times, cut, size)
    assert count_windows(times, cut, size, limit) == everything[:limit]
    periods = time_windows(times, cut, 3000)
    assert time_windows(times, cut, 3000, limit) == periods[:limit]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 10**6), min_size=2, max_size=300),
    st.sampled_from(["auto", "7d", "12h", "25"]),
)
def test_a_plan_replays_after_a_nonempty_base_or_says_why(raw, every):
    times = np.sort(np.asarray(raw, dtype=np.int64) * 60)
    try:
        plan = plan_replay(times, parse_every(every), **RULE)
    except UnusableInputError as exc:
        assert "no events after" in str(exc) or "base period is empty" in str(exc)
        return
    assert plan.base_events >= 1 and any(w.events for w in plan.windows)
    assert plan.base_events == int(np.searchsorted(times, plan.cut, side="left"))
    _check_partition(times, plan.cut, plan.windows, complete=False)
    assert len(plan.windows) <= default_steps(len(times), 10, 1_000_000)


def test_count_windows_give_tied_events_to_the_earlier_window():
    times = np.array([1, 2, 3, 3, 3, 4, 5, 6])
    windows = count_windows(times, 1, 3)
    assert [(w.lo, w.hi) for w in windows] == [(0, 5), (5, 8)]
    assert [(w.start, w.end) for w in windows] == [(1, 4), (4, 7)]


def test_count_windows_start_at_the_cut_and_keep_its_ties_out_of_the_base():
    times = np.array([1, 1, 2, 2, 2, 9])
    windows = count_windows(times, 2, 2)
    assert [(w.lo, w.hi, w.start, w.end) for w in windows] == [(2, 5, 2, 9), (5, 6, 9, 10)]


def test_time_windows_keep_empty_periods_and_clip_the_last():
    times = np.array([0, 5, 25, 26])
    windows = time_windows(times, 5, 10)
    assert [(w.start, w.end, w.events) for w in windows] == [(5, 15, 1), (15, 25, 0), (25, 27, 2)]


def test_unsorted_times_are_refused():
    with pytest.raises(ValueError, match="sorted"):
        count_windows(np.array([3, 1]), 0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", Every("7d", seconds=7 * DAY)),
        ("12h", Every("12h", seconds=12 * 3600)),
        (" 30D ", Every("30d", seconds=30 * DAY)),
        ("2w", Every("2w", seconds=2 * WEEK_SECONDS)),
        ("50000", Every("50000", events=50_000)),
        ("auto", None),
    ],
)
def test_parse_every(text, expected):
    assert parse_every(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_parse_every_accepts_periods_and_counts_only(text):
    try:
        every = parse_every(text)
    except UnusableInputError as exc:
        assert str(exc).startswith("bad --every") and "\n" not in str(exc)
        return
    if every is not None:
        assert (every.seconds or 0) > 0 or (every.events or 0) > 0
        assert (every.seconds is None) != (every.events is None)


@pytest.mark.parametrize("text", ["0", "0d", "7x", "-5", "7 days", "1.5d", ""])
def test_bad_every_values_are_refused(text):
    with pytest.raises(UnusableInputError, match="bad --every"):
        parse_every(text)


def _times(name: str, datasets_dir) -> np.ndarray:
    frame = pd.read_csv(datasets_dir / name / "interactions.csv", usecols=["timestamp"])
    return np.sort(frame["timestamp"].to_numpy(), kind="stable")


def test_default_rule_keeps_movielens_100k_replay(datasets_dir):
    """The rule gives MovieLens-100k the replay it had: a 20-week base, ten weekly windows."""
    times = _times("movielens-100k", datasets_dir)
    plan = plan_replay(times, None, **RULE)
    assert plan.every.seconds == WEEK_SECONDS
    assert plan.cut == times[0] + 20 * WEEK_SECONDS and len(plan.windows) == 10
    explicit = plan_replay(times, parse_every("7d"), **RULE, base_weeks=20, steps=10)
    assert explicit.windows == plan.windows


@pytest.mark.parametrize(("name", "steps"), [("movielens-1m", 3), ("amazon-beauty", 5)])
def test_default_rule_cuts_uneven_logs_by_count(datasets_dir, name, steps):
    times = _times(name, datasets_dir)
    plan = plan_replay(times, None, **RULE)
    assert plan.every.events is not None and len(plan.windows) == steps
    assert 0.69 <= plan.base_events / len(times) <= 0.71
    assert sum(w.events for w in plan.windows) == len(times) - plan.base_events
    sizes = [w.events for w in plan.windows]
    assert max(sizes) <= 1.05 * plan.every.events  # day-resolution ties add little


def test_fewer_steps_keep_the_default_windows(datasets_dir):
    """``--steps 2`` shortens a default replay: same kind and size of window, fewer of them."""
    for name in ("movielens-100k", "amazon-beauty"):
        times = _times(name, datasets_dir)
        plan = plan_replay(times, None, **RULE)
        short = plan_replay(times, None, **RULE, steps=2)
        assert short.every == plan.every and short.windows == plan.windows[:2]
    weeks = plan_replay(
        _times("movielens-100k", datasets_dir), None, **RULE, base_weeks=20, steps=2
    )
    assert weeks.every.seconds == WEEK_SECONDS and len(weeks.windows) == 2
