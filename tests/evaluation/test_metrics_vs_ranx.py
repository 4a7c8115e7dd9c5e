"""Relevance metrics equal ranx's on random and edge-case rankings (to 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest

from recloop.evaluation.metrics import relevance_per_case

RANX_NAMES = {
    "recall": "recall",
    "precision": "precision",
    "hit": "hit_rate",
    "ndcg": "ndcg",
    "mrr": "mrr",
    "map": "map",
}


@pytest.fixture(scope="module")
def ranx():
    """ranx with numba's JIT off: the same metric code, interpreted.

    Compiling ranx's numba kernels costs 20-120 s on 2 cores; running them as plain Python
    on a few hundred small queries takes a second. ranx's typed containers read the flag at
    call time, so it stays off for this module. If ranx was already imported (compiled) in
    this process, it is used as it is.
    """
    import sys

    import numba

    previous = numba.config.DISABLE_JIT
    if "ranx" not in sys.modules:
        numba.config.DISABLE_JIT = True
    try:
        import ranx as module

        yield module
    finally:
        numba.config.DISABLE_JIT = previous


def _ranx_per_query(ranx, rankings, targets, k: int) -> dict:
    """ranx's per-query scores for ranked lists (scores strictly decreasing)."""
    Qrels, Run, evaluate = ranx.Qrels, ranx.Run, ranx.evaluate

    qrels = {f"q{i:05d}": {f"d{d}": 1 for d in t} for i, t in enumerate(targets)}
    run = {
        f"q{i:05d}": {f"d{d}": float(len(r) - pos) for pos, d in enumerate(r)}
        for i, r in enumerate(rankings)
    }
    metrics = [f"{name}@{k}" for name in RANX_NAMES.values()]
    scores = evaluate(Qrels(qrels), Run(run), metrics, return_mean=False, make_comparable=True)
    return {ours: np.asarray(scores[f"{theirs}@{k}"]) for ours, theirs in RANX_NAMES.items()}


def _ours(rankings: list[np.ndarray], targets: list[np.ndarray], k: int) -> dict:
    top = np.full((len(rankings), k), -1, dtype=np.int64)
    for row, ranking in enumerate(rankings):
        top[row, : min(k, len(ranking))] = ranking[:k]
    return relevance_per_case(top, targets)


def _assert_equal(ranx, rankings, targets, k):
    ours = _ours(rankings, targets, k)
    theirs = _ranx_per_query(ranx, rankings, targets, k)
    for name in RANX_NAMES:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_random_rankings_match_ranx(ranx, k):
    rng = np.random.default_rng(k)
    rankings, targets = [], []
    for _ in range(300):
        catalog = rng.permutation(60)
        rankings.append(catalog[:30])
        targets.append(rng.choice(60, size=int(rng.integers(1, 25)), replace=False))
    _assert_equal(ranx, rankings, targets, k)


def test_edge_cases_match_ranx(ranx):
    k = 10
    rankings = [
        np.arange(10),  # every item relevant
        np.arange(10),  # nothing relevant in the list
        np.arange(10),  # the only relevant item at the last rank
        np.arange(10),  # more relevant items (25) than k
        np.arange(10),  # relevant item at rank 1 only
        np.arange(30),  # relevant just past the cut-off
    ]
    targets = [
        np.arange(10),
        np.array([50, 51]),
        np.array([9]),
        np.arange(25),
        np.array([0]),
        np.array([10, 11]),
    ]
    _assert_equal(ranx, rankings, targets, k)


def test_no_relevant_items_and_short_lists():
    # ranx cannot hold a query with no relevant item; every metric is 0 by definition.
    top = np.array([[3, 4, 5]])
    zero = relevance_per_case(top, [np.array([], dtype=np.int64)])
    assert all(v[0] == 0.0 for v in zero.values())
    # A padded list (fewer candidates than k): precision still divides by k (RecBole),
    # ranx divides by the list length; the other metrics agree.
    short = relevance_per_case(np.array([[7, -1, -1, -1]]), [np.array([7])])
    assert short["precision"][0] == pytest.approx(0.25)
    assert short["recall"][0] == short["ndcg"][0] == short["mrr"][0] == 1.0


def test_single_target_array_equals_list_form():
    rng = np.random.default_rng(3)
    top = np.stack([rng.permutation(100)[:10] for _ in range(50)])
    single = rng.integers(0, 100, size=50)
    as_array = relevance_per_case(top, single)
    as_list = relevance_per_case(top, [np.array([t]) for t in single])
    for name in as_array:
        np.testing.assert_array_equal(as_array[name], as_list[name])
