"""The vectorised data preparation gives exactly what the straightforward per-user loops gave.

Each reference below is the plain Python version (one user, one window at a time) written
out here; the library's array code must agree with it on real MovieLens-100k sequences.
Hypothesis then checks the windowing contract on random sequences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.training.prepare import ValidationCase
from recloop.training.sequences import TrainingWindows, UserSequence


def reference_windows(
    sequences: list[UserSequence], max_len: int, value_weighted: bool, stride: int
) -> TrainingWindows:
    """Newest window first per sequence, each ``stride`` events older than the last."""
    rows = []
    for seq in sequences:
        end = len(seq.items)
        while end >= 2:
            start = max(0, end - max_len - 1)
            mask = np.ones(end - start - 1, dtype=bool)
            if seq.is_target is not None:
                mask = seq.is_target[start + 1 : end].astype(bool)
            if start > 0:
                mask &= np.arange(start + 1, end) >= end - stride
            if mask.any():
                rows.append((start, end, seq, mask))
            end = end - stride if start > 0 else 0
    n = len(rows)
    out = TrainingWindows(
        np.zeros((n, max_len), np.int64),
        np.zeros((n, max_len), np.int64),
        np.zeros((n, max_len), np.float32),
        np.zeros((n, max_len), np.int64),
    )
    for r, (start, end, seq, mask) in enumerate(rows):
        width = end - 1 - start
        out.inputs[r, max_len - width :] = seq.items[start : end - 1]
        out.targets[r, max_len - width :] = seq.items[start + 1 : end]
        value = seq.values[start + 1 : end] if value_weighted else 1.0
        out.weights[r, max_len - width :] = value * mask
        out.scenarios[r, max_len - width :] = seq.scenarios[start + 1 : end]
    if value_weighted and n:
        out.weights = out.weights / max(float(out.weights[out.weights > 0].mean()), 1e-9)
    return out


def reference_sequences(events: pd.DataFrame, index_of: dict[int, int]) -> dict[int, tuple]:
    """Per user, their known items (model indices) and values in stable time order."""
    out = {}
    ordered = events.sort_values("timestamp", kind="stable")
    for user, group in ordered.groupby("user_id", sort=True):
        known = group[group["item_id"].isin(list(index_of))]
        items = np.array([index_of[int(i)] for i in known["item_id"]], dtype=np.int64)
        out[int(user)] = (items, known["value"].to_numpy(np.float32))
    return out


def reference_cases(valid: pd.DataFrame, sequences, index_of, scenario_of) -> list:
    cases = []
    for user, group in valid.sort_values("timestamp", kind="stable").groupby("user_id"):
        seq = sequences.get(int(user))
        targets = [index_of[int(i)] for i in group["item_id"] if int(i) in index_of]
        if seq is None or not targets:
            continue
        named = group["scenario"].dropna()
        scenario = scenario_of.get(str(named.iloc[0]), 0) if len(named) else 0
        when = float(group["timestamp"].min()) / 86_400.0
        cases.append(ValidationCase(seq.items, np.unique(targets), scenario, when))
    return cases


def assert_windows_equal(got: TrainingWindows, want: TrainingWindows) -> None:
    for field in ("inputs", "targets", "weights", "scenarios"):
        a, b = getattr(got, field), getattr(want, field)
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(a, b, err_msg=field)


@pytest.fixture(scope="module")
def incremental(movielens):
    """ML-100k cut at its 80% time quantile: old events are context, new ones targets."""
    from recloop.training.prepare import prepare_problem

    events = movielens.events
    cut = int(events["timestamp"].quantile(0.8))
    old, new = events[events["timestamp"] < cut], events[events["timestamp"] >= cut]
    return prepare_problem(new, movielens.items, history=old)


@pytest.mark.parametrize(("max_len", "stride"), [(20, 20), (20, 7), (50, 25), (5, 1)])
def test_windows_match_the_per_window_loop_on_movielens(movielens, incremental, max_len, stride):
    from recloop.training.prepare import prepare_problem
    from recloop.training.sequences import training_windows

    full = prepare_problem(movielens.events, movielens.items).sequences
    for sequences in (full, incremental.sequences, incremental.replay_sequences):
        for weighted in (False, True):
            got = training_windows(sequences, max_len, value_weighted=weighted, stride=stride)
            want = reference_windows(sequences, max_len, weighted, stride)
            assert_windows_equal(got, want)
    assert incremental.sequences[0].is_target is not None  # context-only events were covered


def test_sequences_and_validation_cases_match_the_per_user_loops(movielens):
    from recloop.training.prepare import prepare_problem, split_last_per_user
    from recloop.training.sequences import item_index_map

    events = movielens.events
    train, valid = split_last_per_user(events)
    # Scenarios on a third of the validation events, none on another third, so the
    # "first named scenario" rule is exercised; 200 users get a second, earliest
    # validation event with an item no one trained on (it joins the vocabulary).
    valid = valid.assign(
        scenario=np.array(["home", None, "search"], dtype=object)[np.arange(len(valid)) % 3]
    )
    extra = valid.sample(200, random_state=0).assign(item_id=99_999, timestamp=0)
    valid = pd.concat([valid, extra], ignore_index=True)
    problem = prepare_problem(train, movielens.items, valid_events=valid)
    want_seqs = reference_sequences(train, item_index_map(problem.item_ids))
    assert [s.user_id for s in problem.sequences] == sorted(want_seqs)
    for seq in problem.sequences:
        items, values = want_seqs[seq.user_id]
        np.testing.assert_array_equal(seq.items, items)
        np.testing.assert_array_equal(seq.values, values)
    by_user = {s.user_id: s for s in problem.sequences}
    scenario_of = {name: i + 1 for i, name in enumerate(problem.scenarios)}
    want = reference_cases(valid, by_user, item_index_map(problem.item_ids), scenario_of)
    assert len(problem.valid_cases) == len(want) == events["user_id"].nunique()
    for got, ref in zip(problem.valid_cases, want, strict=True):
        np.testing.assert_array_equal(got.history, ref.history)
        np.testing.assert_array_equal(got.targets, ref.targets)
        assert got.targets.dtype == np.int64
        assert (got.scenario, got.time) == (ref.scenario, ref.time)
    assert {c.scenario for c in problem.valid_cases} == {0, 1, 2}
    assert sum(len(c.targets) == 2 for c in problem.valid_cases) == 200


@st.composite
def sequence_sets(draw):
    """Random sequences whose item at position p of sequence s is the unique id s*1000+p+1."""
    max_len = draw(st.integers(1, 12))
    stride = draw(st.integers(1, max_len))
    lengths = draw(st.lists(st.integers(0, 40), min_size=0, max_size=6))
    with_flags = draw(st.booleans())
    sequences = []
    for s, n in enumerate(lengths):
        flags = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        sequences.append(
            UserSequence(
                s,
                s * 1000 + np.arange(n, dtype=np.int64) + 1,
                np.ones(n, np.float32),
                np.zeros(n, np.int64),
                flags if with_flags else None,
            )
        )
    return sequences, max_len, stride


@settings(max_examples=150, deadline=None)
@given(sequence_sets())
def test_every_target_event_is_the_target_of_one_window_with_its_past_as_input(case):
    from recloop.training.sequences import training_windows

    sequences, max_len, stride = case
    windows = training_windows(sequences, max_len, stride=stride)
    taught = windows.targets[windows.weights > 0]
    expected = [
        seq.items[p]
        for seq in sequences
        for p in range(1, len(seq.items))
        if seq.is_target is None or seq.is_target[p]
    ]
    assert sorted(taught.tolist()) == sorted(expected)  # each exactly once
    real = windows.targets > 0
    # Inputs precede targets: each real position's input is the event just before its
    # target, in the same sequence; padding is on the left and holds nothing.
    np.testing.assert_array_equal(windows.inputs[real], windows.targets[real] - 1)
    assert (windows.inputs[real] % 1000 > 0).all()
    assert not (windows.inputs[~real].any() or windows.weights[~real].any())
    assert (np.diff(real.astype(int), axis=1) >= 0).all()
    assert ((windows.weights > 0).sum(axis=1) > 0).all()  # no context-only window
    assert_windows_equal(windows, reference_windows(sequences, max_len, False, stride))
