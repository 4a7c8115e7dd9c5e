"""The harness's block top-k equals a per-row stable sort: ties, non-finite scores, padding."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def reference_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row: finite columns by score descending, column ascending; -1 pads."""
    out = np.full((len(scores), k), -1, dtype=np.int64)
    for row, values in enumerate(scores):
        columns = np.flatnonzero(np.isfinite(values))
        ranked = columns[np.argsort(-values[columns], kind="stable")][:k]
        out[row, : len(ranked)] = ranked
    return out


# Few distinct values, so rows are full of ties; NaN and +-inf mixed in.
_VALUES = st.sampled_from([0.0, 1.0, 2.0, 2.5, -1.0, np.nan, np.inf, -np.inf])


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 8), st.integers(1, 30)),
        elements=_VALUES,
    ),
    st.integers(1, 35),
    st.booleans(),
)
def test_block_top_k_equals_a_per_row_stable_sort(scores, k, as_float32):
    from recloop.evaluation.harness import top_k_columns

    scores = scores.astype(np.float32) if as_float32 else scores
    before = scores.copy()
    np.testing.assert_array_equal(top_k_columns(scores, k), reference_top_k(scores, k))
    np.testing.assert_array_equal(scores, before)  # the caller's scores are not changed


def test_catalog_wide_rows_with_ties_at_the_cut():
    """Rows as wide as a catalog, where the k-th score is shared by many columns (the
    selection alone would cut them arbitrarily), plus all-NaN and nearly empty rows."""
    from recloop.evaluation.harness import top_k_columns

    rng = np.random.default_rng(0)
    scores = np.round(rng.standard_normal((64, 5000)), 1).astype(np.float32)
    scores[::7, ::3] = -np.inf
    scores[5] = np.nan
    scores[6] = -np.inf
    scores[6, [17, 4000]] = 1.0
    for k in (1, 10, 100):
        np.testing.assert_array_equal(top_k_columns(scores, k), reference_top_k(scores, k))


def test_full_ranking_of_a_tied_baseline_on_movielens(movielens):
    """Popularity ranks every user with the same ties; seen items excluded per user."""
    from recloop.evaluation.baselines import build_baseline
    from recloop.evaluation.harness import rank_top_k
    from recloop.evaluation.protocols import leave_one_out, loo_cases

    split = leave_one_out(movielens.events)
    cases = loo_cases(split, "test")
    model = build_baseline("pop", split.train, movielens.items["item_id"].to_numpy())
    got = rank_top_k(model, cases, 50, batch_size=300)
    scores = np.array(model.score(cases.histories), dtype=np.float64)
    ids = np.asarray(model.item_ids)
    column = {int(item): j for j, item in enumerate(ids)}
    for row, seen in enumerate(cases.exclude):
        scores[row, [column[int(i)] for i in seen if int(i) in column]] = -np.inf
    columns = reference_top_k(scores, 50)
    want = np.where(columns >= 0, ids[np.maximum(columns, 0)], -1)
    np.testing.assert_array_equal(got, want)
    assert len(np.unique(scores[np.isfinite(scores)])) < scores.shape[1]  # ties exist
