"""Diversity and beyond-accuracy metrics of top-K lists.

Lists are given as *catalog positions*: ``top`` is an int array ``(n_cases, k)`` of row
indices into per-item tables aligned with the catalog (popularity counts, genre matrix,
embeddings), ``-1`` padding short lists. Per-list metrics return one value per case; the
aggregate ones (coverage, Gini, entropy of exposure) return one number for all lists.

Coverage, Gini, average popularity and tail share follow RecBole 1.2.1
(``recbole/evaluator/metrics.py``: ``ItemCoverage``, ``GiniIndex``, ``AveragePopularity``,
``TailPercentage``; https://recbole.io/docs/recbole/recbole.evaluator.metrics.html), with
two deliberate differences, both convertible (``tests/evaluation/test_diversity.py``):

1. RecBole's catalog size counts its padding id ``[PAD]`` (1,683 for MovieLens-100k's
   1,682 movies); recloop uses the real catalog. Pass ``n_catalog=1683`` to get RecBole's
   coverage and Gini (coverage scales by 1682/1683; Gini changes non-linearly).
2. RecBole's ``ShannonEntropy`` divides the entropy of item exposure by the number of
   distinct recommended items; recloop reports the textbook entropy (nats). RecBole's value
   is ``exposure_entropy(top) / len(distinct recommended items)``.
"""

from __future__ import annotations

import numpy as np


def _valid(top: np.ndarray) -> np.ndarray:
    return np.asarray(top) >= 0


def _exposure_counts(top: np.ndarray, n_catalog: int) -> np.ndarray:
    """How many list slots each catalog item fills, over all lists."""
    positions = np.asarray(top)[_valid(top)]
    return np.bincount(positions, minlength=n_catalog)


def item_coverage(top: np.ndarray, n_catalog: int) -> float:
    """Catalog coverage@K = |∪_u top-K(u)| / |I|. Range [0, 1].

    RecBole ``ItemCoverage`` (with |I| counting its padding id, see module docstring).
    """
    return float(np.count_nonzero(_exposure_counts(top, n_catalog)) / n_catalog)


def gini_index(top: np.ndarray, n_catalog: int) -> float:
    """Gini index of item exposure in the top-K lists (RecBole ``GiniIndex``).

    With c_(1) <= ... <= c_(n) the exposure counts of all n = |I| catalog items (items
    never recommended count 0) and T = Σ c_j the number of list slots:
    Gini = Σ_{j=1..n} (2j - n - 1) · c_(j) / (n · T).
    0 = every item recommended equally often; close to 1 = a few items take every slot.
    """
    counts = np.sort(_exposure_counts(top, n_catalog))
    total = counts.sum()
    if total == 0:
        return 0.0
    rank = np.arange(1, n_catalog + 1)
    return float(np.sum((2 * rank - n_catalog - 1) * counts) / (n_catalog * total))


def exposure_entropy(top: np.ndarray) -> float:
    """Textbook Shannon entropy (nats) of item exposure: H = -Σ_i p_i ln p_i.

    p_i = share of all list slots taken by item i. RecBole's ``ShannonEntropy`` is this
    value divided by the number of distinct recommended items.
    """
    positions = np.asarray(top)[_valid(top)]
    if positions.size == 0:
        return 0.0
    _, counts = np.unique(positions, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _per_list_mean(values: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (n, k) over each list's valid slots; 0 for an empty list."""
    valid = _valid(top)
    n_valid = valid.sum(axis=1)
    total = np.where(valid, values, 0.0).sum(axis=1)
    return np.divide(total, n_valid, out=np.zeros(len(top)), where=n_valid > 0)


def average_popularity(top: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average popularity@K per list: mean over its items of the item's training count.

    RecBole ``AveragePopularity`` (``data.count_items``: training interactions per item,
    0 for items never seen in training).
    """
    return _per_list_mean(np.asarray(counts, dtype=np.float64)[np.maximum(top, 0)], top)


def tail_items(counts: np.ndarray, tail_ratio: float = 0.1) -> np.ndarray:
    """Boolean mask of long-tail catalog items, as RecBole's ``TailPercentage`` selects them.

    With ``tail_ratio > 1`` an item is in the tail when its training count <= tail_ratio.
    Otherwise the items *present in training* (count > 0) are sorted by (count, position)
    and the first ``max(int(n_present · tail_ratio), 1)`` form the tail. Like RecBole,
    items with no training event are not tail items.
    """
    counts = np.asarray(counts)
    if tail_ratio > 1:
        return (counts > 0) & (counts <= tail_ratio)
    present = np.flatnonzero(counts > 0)
    order = present[np.lexsort((present, counts[present]))]
    cut = max(int(len(present) * tail_ratio), 1)
    mask = np.zeros(len(counts), dtype=bool)
    mask[order[:cut]] = True
    return mask


def tail_share(top: np.ndarray, is_tail: np.ndarray) -> np.ndarray:
    """Long-tail share@K per list = |top-K ∩ tail| / K (RecBole ``TailPercentage``)."""
    return _per_list_mean(np.asarray(is_tail, dtype=np.float64)[np.maximum(top, 0)], top)


def novelty(top: np.ndarray, user_counts: np.ndarray, n_users: int) -> np.ndarray:
    """Novelty@K per list: mean self-information of its items (Zhou et al., PNAS 2010).

    novelty = (1/K) Σ_{i in list} -log2(p_i), with p_i = (u_i + 1) / (U + 1), u_i the number
    of training users who interacted with item i and U the number of training users. The
    add-one smoothing keeps never-seen items finite (they get the largest value, log2(U+1)).
    """
    p = (np.asarray(user_counts, dtype=np.float64) + 1.0) / (n_users + 1.0)
    information = -np.log2(np.minimum(p, 1.0))
    return _per_list_mean(information[np.maximum(top, 0)], top)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def intra_list_diversity(top: np.ndarray, unit_vectors: np.ndarray) -> np.ndarray:
    """ILD@K per list = 1 - mean pairwise cosine similarity of its items' vectors.

    ILD = 1 - (2 / (m(m-1))) Σ_{i<j} cos(v_i, v_j) over the m valid items of the list
    (Ziegler et al., WWW 2005, with distance 1 - cos). ``unit_vectors`` must be L2-normalised
    rows (``unit_rows``); an item with a zero vector (e.g. no genre) has similarity 0 to all.
    Lists with fewer than 2 items get 0. Range [0, 2] in general, [0, 1] for non-negative
    vectors such as genre indicators.

    Computed as ``(|Σ v_i|² - Σ |v_i|²) / (m(m-1))`` for the pairwise mean (the same sum as
    the Gram matrix's off-diagonal, in O(K·d) per list instead of O(K²·d)), a block of
    lists at a time so memory stays bounded whatever the number of lists.
    """
    top = np.asarray(top)
    out = np.zeros(len(top))
    for start in range(0, len(top), _ILD_BLOCK):
        block = top[start : start + _ILD_BLOCK]
        valid = _valid(block)
        vectors = unit_vectors[np.maximum(block, 0)] * valid[:, :, None]
        total = vectors.sum(axis=1)
        pair_sum = np.einsum("nd,nd->n", total, total) - np.einsum("nkd,nkd->n", vectors, vectors)
        m = valid.sum(axis=1).astype(np.float64)
        pairs = m * (m - 1)
        mean_similarity = np.divide(pair_sum, pairs, out=np.zeros(len(block)), where=pairs > 0)
        out[start : start + len(block)] = np.where(pairs > 0, 1.0 - mean_similarity, 0.0)
    return out


_ILD_BLOCK = 1024  # lists per block: (block, K, d) float64 vectors at a time


def genre_matrix(
    genres: list[str] | np.ndarray, separator: str = "|"
) -> tuple[np.ndarray, list[str]]:
    """Multi-hot genre indicators of catalog items.

    Args:
        genres: one ``separator``-joined genre string per catalog item ("" or None: none).
        separator: the genre separator (``|`` in canonical items).

    Returns:
        tuple: ``(n_items, n_genres)`` float matrix and the genre names (sorted).
    """
    parsed = [
        [g for g in str(s).split(separator) if g] if isinstance(s, str) else [] for s in genres
    ]
    names = sorted({g for item in parsed for g in item})
    column = {g: j for j, g in enumerate(names)}
    matrix = np.zeros((len(parsed), len(names)), dtype=np.float64)
    for row, item in enumerate(parsed):
        for g in item:
            matrix[row, column[g]] = 1.0
    return matrix, names


def category_entropy(top: np.ndarray, genre_indicators: np.ndarray) -> np.ndarray:
    """Category entropy@K per list: Shannon entropy (nats) of the list's genre mix.

    Each item spreads weight 1 evenly over its genres (1/|G_i| each; items without genre add
    nothing); with q_g the share of genre g in the list, H = -Σ_g q_g ln q_g. 0 = one genre;
    ln(#genres) at most.
    """
    indicators = np.asarray(genre_indicators, dtype=np.float64)
    per_item = unit_sum_rows(indicators)[np.maximum(top, 0)] * _valid(top)[:, :, None]
    mix = per_item.sum(axis=1)
    total = mix.sum(axis=1, keepdims=True)
    q = np.divide(mix, total, out=np.zeros_like(mix), where=total > 0)
    logs = np.log(q, out=np.zeros_like(q), where=q > 0)
    return -(q * logs).sum(axis=1)


def unit_sum_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1; all-zero rows stay zero."""
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
