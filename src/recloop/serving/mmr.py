"""Maximal Marginal Relevance re-ranking (Carbonell & Goldstein, SIGIR 1998).

Greedy: next = argmax_i  lambda * rel(i) - (1 - lambda) * max_{j in selected} sim(i, j),
with relevance min-max scaled to [0, 1] over the candidates so that lambda weighs two
quantities on the same scale. lambda = 1 is the pure relevance order; lambda = 0 picks the
most dissimilar items.
"""

from __future__ import annotations

import numpy as np


def mmr_rerank(
    relevance: np.ndarray, similarity: np.ndarray, k: int, diversity_lambda: float
) -> list[int]:
    """Positions (into ``relevance``) of the ``k`` items MMR selects, in selection order.

    Args:
        relevance: (c,) candidate scores, higher is better.
        similarity: (c, c) pairwise similarity of the candidates (cosine).
        k: how many to select (at most c).
        diversity_lambda: weight of relevance, in [0, 1].

    Returns:
        list[int]: selected candidate positions.
    """
    count = len(relevance)
    k = min(k, count)
    if k <= 0:
        return []
    if diversity_lambda >= 1.0:
        return np.argsort(-relevance, kind="stable")[:k].tolist()
    low, high = float(relevance.min()), float(relevance.max())
    rel = (relevance - low) / (high - low) if high > low else np.ones(count)
    selected = [int(np.argmax(rel))]
    max_sim = similarity[selected[0]].astype(np.float64).copy()
    available = np.ones(count, dtype=bool)
    available[selected[0]] = False
    while len(selected) < k:
        gain = diversity_lambda * rel - (1.0 - diversity_lambda) * max_sim
        gain[~available] = -np.inf
        best = int(np.argmax(gain))
        selected.append(best)
        available[best] = False
        np.maximum(max_sim, similarity[best], out=max_sim)
    return selected
