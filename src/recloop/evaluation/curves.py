"""Curves over one evaluation: metrics versus K, and the relevance-diversity frontier.

- ``metric_curve`` cuts one deep ranking at several K (no re-scoring).
- ``mmr_frontier`` asks a model that re-ranks with MMR (a ``recloop.scorer.ListRecommender``,
  as ``recloop.serving.Recommender``) for lists at several lambdas and measures each:
  lambda = 1 is pure relevance, lower values trade relevance for intra-list diversity.
  Plotting NDCG against ILD over lambda gives the frontier an operator picks the serving
  lambda from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from recloop.evaluation.harness import EvalResult, Popularity, evaluate_lists, score_cases
from recloop.evaluation.protocols import EvalCases
from recloop.scorer import ListRecommender
from recloop.serving.mmr import mmr_rerank


def metric_curve(result: EvalResult, ks: Sequence[int]) -> pd.DataFrame:
    """Metrics at each K <= ``result.k``: one row per K, columns ``k`` and metric names.

    Args:
        result: an evaluation at the largest K of interest.
        ks: cut-offs; those above ``result.k`` are skipped.

    Returns:
        DataFrame: ``k`` and the metrics without their ``@k`` suffix.
    """
    rows = []
    for k in sorted({int(k) for k in ks if 0 < k <= result.k}):
        metrics = result.at_k(k).metrics
        rows.append({"k": k, **{name.split("@")[0]: value for name, value in metrics.items()}})
    return pd.DataFrame(rows)


def supports_mmr(model: object) -> bool:
    """Whether ``model`` re-ranks lists with MMR (a ``recloop.scorer.ListRecommender``)."""
    return isinstance(model, ListRecommender)


def mmr_frontier(
    model: ListRecommender,
    cases: EvalCases,
    lambdas: Sequence[float],
    *,
    k: int = 10,
    items: pd.DataFrame | None = None,
    item_embeddings: np.ndarray | None = None,
    popularity: Popularity | pd.DataFrame | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Relevance and diversity of the model's MMR lists at each lambda.

    A ``recloop.serving.Recommender`` is scored once for all cases (batched) and its lists
    re-ranked with the same MMR step as ``Recommender.recommend`` (``_batched_mmr_lists``,
    checked against ``recommend`` in the tests); other models are asked case by case through
    ``recommend(history, k=, diversity_lambda=, exclude=, at=)``.

    Args:
        model: a ``recloop.scorer.ListRecommender``.
        cases: the evaluation cases (their excluded items are passed as ``exclude``).
        lambdas: MMR trade-offs to try (1 = relevance only).
        k: list length.
        items, item_embeddings, popularity: as in ``evaluate_scorer``.
        progress: called with the number of cases done, per lambda.

    Returns:
        DataFrame: one row per lambda: ``lambda``, every metric (without ``@k``) and
        ``seconds`` (time to produce the lists).
    """
    import time

    batched = _supports_batched_mmr(model)
    scores = _masked_scores(model, cases) if batched else None
    rows = []
    for lam in lambdas:
        start = time.perf_counter()
        if batched:
            top = _batched_mmr_lists(model, cases, scores, float(lam), k)
        else:
            top = _recommend_lists(model, cases, float(lam), k)
        if progress is not None:
            progress(len(cases))
        seconds = time.perf_counter() - start
        result = evaluate_lists(
            top,
            cases,
            item_ids=model.item_ids,
            items=items,
            item_embeddings=item_embeddings,
            popularity=popularity,
        )
        metrics = {name.split("@")[0]: value for name, value in result.metrics.items()}
        rows.append({"lambda": float(lam), **metrics, "seconds": seconds})
    return pd.DataFrame(rows)


def _supports_batched_mmr(model) -> bool:
    return all(
        hasattr(model, name)
        for name in ("score", "item_text_embeddings", "mmr_candidates", "cold_user_lambda")
    )


def _recommend_lists(model: ListRecommender, cases: EvalCases, lam: float, k: int) -> np.ndarray:
    top = np.full((len(cases), k), -1, dtype=np.int64)
    for row, (history, exclude) in enumerate(zip(cases.histories, cases.exclude, strict=True)):
        listed = model.recommend(
            [int(i) for i in history],
            k=k,
            diversity_lambda=lam,
            exclude=[int(i) for i in exclude],
            at=None if cases.timestamps is None else float(cases.timestamps[row]),
        )
        ids = [int(entry["item_id"]) for entry in listed][:k]
        top[row, : len(ids)] = ids
    return top


def _masked_scores(model, cases: EvalCases) -> np.ndarray:
    """(n_cases, n_items) float64 scores, the history and excluded items at -inf."""

    scores = np.asarray(score_cases(model, cases, 0, len(cases)), dtype=np.float64).copy()
    column = {int(item): j for j, item in enumerate(model.item_ids)}
    for row, (history, exclude) in enumerate(zip(cases.histories, cases.exclude, strict=True)):
        blocked = [column[int(i)] for i in (*history, *exclude) if int(i) in column]
        scores[row, blocked] = -np.inf
    return scores


def _batched_mmr_lists(model, cases: EvalCases, scores: np.ndarray, lam: float, k: int):
    """Recommender's selection (``Recommender._select``) on precomputed scores."""

    known = set(int(i) for i in model.item_ids)
    embeddings = np.asarray(model.item_text_embeddings)
    top = np.full((len(cases), k), -1, dtype=np.int64)
    for row, history in enumerate(cases.histories):
        has_history = any(int(i) in known for i in history)
        case_lambda = lam if has_history else min(lam, float(model.cold_user_lambda))
        finite = np.flatnonzero(np.isfinite(scores[row]))
        pool = min(len(finite), max(k, int(model.mmr_candidates) if case_lambda < 1.0 else k))
        candidates = finite[np.argsort(-scores[row, finite], kind="stable")[:pool]]
        if case_lambda >= 1.0:
            chosen = candidates[:k]
        else:
            vectors = embeddings[candidates]
            picked = mmr_rerank(scores[row, candidates], vectors @ vectors.T, k, case_lambda)
            chosen = candidates[picked]
        top[row, : len(chosen)] = model.item_ids[chosen]
    return top
