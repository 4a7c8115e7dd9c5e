"""Relevance metrics @K from ranked lists and held-out truth, vectorised over users.

Every function takes a boolean *hit matrix* ``hits`` of shape ``(n_cases, k)``
(``hits[u, r]`` is True when the item at rank ``r + 1`` of case ``u``'s list is relevant)
and, where the metric needs it, ``n_relevant`` (shape ``(n_cases,)``: how many relevant
items case ``u`` has, whether or not they were retrieved). Each returns one value per case;
the harness averages them. Lists shorter than ``k`` are padded with misses.

Definitions follow the textbook (Manning, Raghavan & Schütze, *Introduction to Information
Retrieval*, ch. 8) and are cross-checked against ``ranx`` to 1e-9 in
``tests/evaluation/test_metrics_vs_ranx.py``. With one held-out item per case (leave-one-out,
next-item) they coincide with RecBole 1.2.1's ``recbole/evaluator/metrics.py``. Two
documented differences with other libraries, both only when lists or truth sets are unusual:

- Precision@K divides by K even when fewer than K items could be ranked (RecBole does the
  same; ``ranx`` divides by the list length).
- AP@K divides by the number of relevant items R (as ``ranx`` and ``trec_eval``); RecBole's
  MAP divides by ``min(R, K)``. Both agree whenever R <= K.
"""

from __future__ import annotations

import numpy as np


def hit_matrix(top_items: np.ndarray, targets: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Mark which ranked items are relevant.

    Args:
        top_items: ``(n_cases, k)`` item ids in rank order; ``-1`` pads short lists.
        targets: one int array of relevant item ids per case, or a 1-D array with one
            relevant item per case.

    Returns:
        np.ndarray: bool ``(n_cases, k)``.
    """
    top_items = np.asarray(top_items)
    padded = pad_targets(targets)
    if padded.shape[1] == 1:
        hits = top_items == padded
    else:
        hits = (top_items[:, :, None] == padded[:, None, :]).any(axis=2)
    return hits & (top_items >= 0)


def pad_targets(targets: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Targets as a ``(n_cases, max_targets)`` int64 array padded with ``-2``.

    ``-2`` never equals an item id nor the ``-1`` that pads ranked lists.
    """
    if isinstance(targets, np.ndarray) and targets.ndim == 1 and targets.dtype != object:
        return targets.astype(np.int64)[:, None]
    rows, flat, lengths = _flatten(targets)
    width = int(lengths.max(initial=1)) or 1
    padded = np.full((len(targets), width), -2, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    padded[rows, np.arange(len(flat)) - starts[rows]] = flat
    return padded


def _flatten(targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(case of each target, the targets end to end, targets per case) of ragged lists."""
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    rows = np.repeat(np.arange(len(targets)), lengths)
    parts = [np.asarray(t, dtype=np.int64).ravel() for t in targets]
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return rows, flat, lengths


def count_relevant(targets: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Number of distinct relevant items per case (R in the formulas below)."""
    if isinstance(targets, np.ndarray) and targets.ndim == 1 and targets.dtype != object:
        return np.ones(len(targets), dtype=np.int64)
    rows, flat, _ = _flatten(targets)
    order = np.lexsort((flat, rows))
    rows, flat = rows[order], flat[order]
    first = np.ones(len(flat), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (flat[1:] != flat[:-1])
    return np.bincount(rows[first], minlength=len(targets)).astype(np.int64)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Recall@K = |relevant ∩ top-K| / R; 0 when R = 0. Range [0, 1]."""
    return _safe_divide(hits.sum(axis=1), n_relevant)


def precision_at_k(hits: np.ndarray) -> np.ndarray:
    """Precision@K = |relevant ∩ top-K| / K. Range [0, 1]."""
    return hits.sum(axis=1) / hits.shape[1]


def hit_rate_at_k(hits: np.ndarray) -> np.ndarray:
    """HitRate@K = 1 if any of the top-K items is relevant, else 0."""
    return hits.any(axis=1).astype(np.float64)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """NDCG@K with binary gains (Järvelin & Kekäläinen, 2002).

    DCG@K = Σ_{r=1..K} rel_r / log2(r + 1);  IDCG@K = Σ_{r=1..min(R, K)} 1 / log2(r + 1);
    NDCG@K = DCG@K / IDCG@K, 0 when R = 0. Range [0, 1].
    """
    k = hits.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_relevant, k)]
    return _safe_divide(dcg, ideal)


def mrr_at_k(hits: np.ndarray) -> np.ndarray:
    """Reciprocal rank @K = 1 / rank of the first relevant item in the top K, else 0."""
    first = hits.argmax(axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Average precision @K = Σ_{r=1..K} Precision@r · rel_r / R; 0 when R = 0.

    R is the number of relevant items (``ranx``/``trec_eval``); RecBole divides by
    ``min(R, K)`` instead (same value whenever R <= K). Its mean over cases is MAP@K.
    """
    k = hits.shape[1]
    precision_at_each_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return _safe_divide((precision_at_each_rank * hits).sum(axis=1), n_relevant)


def relevance_per_case(top_items: np.ndarray, targets: list[np.ndarray] | np.ndarray) -> dict:
    """All relevance metrics for each case, keyed by metric name (no ``@k`` suffix).

    Args:
        top_items: ``(n_cases, k)`` ranked item ids, ``-1`` for padding.
        targets: relevant item ids per case.

    Returns:
        dict[str, np.ndarray]: ``recall``, ``precision``, ``hit``, ``ndcg``, ``mrr``, ``map``.
    """
    hits = hit_matrix(top_items, targets)
    n_relevant = count_relevant(targets)
    return {
        "recall": recall_at_k(hits, n_relevant),
        "precision": precision_at_k(hits),
        "hit": hit_rate_at_k(hits),
        "ndcg": ndcg_at_k(hits, n_relevant),
        "mrr": mrr_at_k(hits),
        "map": map_at_k(hits, n_relevant),
    }


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
