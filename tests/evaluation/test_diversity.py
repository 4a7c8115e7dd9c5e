"""Diversity metrics on hand-computed cases, and the conversion to RecBole's definitions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from recloop.evaluation import diversity as div

TOP = np.array([[0, 1], [0, 2]])  # two lists over a 4-item catalog; item 3 never shown


def test_coverage_gini_entropy_by_hand():
    assert div.item_coverage(TOP, 4) == pytest.approx(3 / 4)
    # exposure (sorted) = [0, 1, 1, 2], T = 4: Σ(2j - 5) c_j = -1 + 1 + 6 = 6 -> 6 / 16
    assert div.gini_index(TOP, 4) == pytest.approx(6 / 16)
    # shares 1/2, 1/4, 1/4
    assert div.exposure_entropy(TOP) == pytest.approx(0.5 * np.log(2) + 0.5 * np.log(4))
    # everything equal -> Gini 0; one item takes every slot -> (n - 1) / n
    assert div.gini_index(np.array([[0, 1], [2, 3]]), 4) == pytest.approx(0.0)
    assert div.gini_index(np.array([[0], [0]]), 4) == pytest.approx(3 / 4)


def test_popularity_tail_novelty_by_hand():
    counts = np.array([10, 5, 1, 0])
    np.testing.assert_allclose(div.average_popularity(TOP, counts), [7.5, 5.5])
    tail = div.tail_items(counts, tail_ratio=0.34)  # 3 items seen in training -> 1 tail item
    assert tail.tolist() == [False, False, True, False]
    np.testing.assert_allclose(div.tail_share(TOP, tail), [0.0, 0.5])
    assert div.tail_items(counts, tail_ratio=5).tolist() == [False, True, True, False]
    users = np.array([7, 3, 0, 0])
    expected = [
        np.mean([-np.log2(8 / 8), -np.log2(4 / 8)]),
        np.mean([-np.log2(8 / 8), -np.log2(1 / 8)]),
    ]
    np.testing.assert_allclose(div.novelty(TOP, users, n_users=7), expected)


def test_intra_list_diversity_and_category_entropy_by_hand():
    vectors = div.unit_rows(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]))
    np.testing.assert_allclose(div.intra_list_diversity(TOP, vectors), [1.0, 1 - 1 / np.sqrt(2)])
    # padding and lists of one item: 0; a zero vector is dissimilar to everything
    np.testing.assert_allclose(
        div.intra_list_diversity(np.array([[0, -1], [0, 3]]), vectors), [0.0, 1.0]
    )
    genres, names = div.genre_matrix(["A", "B", "A|B", ""])
    assert names == ["A", "B"]
    expected_mixed = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    np.testing.assert_allclose(div.category_entropy(TOP, genres), [np.log(2), expected_mixed])
    genre_ild = div.intra_list_diversity(TOP, div.unit_rows(genres))
    np.testing.assert_allclose(genre_ild, [1.0, 1 - 1 / np.sqrt(2)])


# RecBole 1.2.1 recbole/evaluator/metrics.py, restated literally for the conversion test.
def recbole_coverage(item_matrix: np.ndarray, num_items: int) -> float:
    return len(np.unique(item_matrix)) / num_items


def recbole_gini(item_matrix: np.ndarray, num_items: int) -> float:
    item_count = dict(Counter(item_matrix.flatten()))
    sorted_count = np.array(sorted(item_count.values()))
    num_recommended_items = sorted_count.shape[0]
    total_num = item_matrix.shape[0] * item_matrix.shape[1]
    idx = np.arange(num_items - num_recommended_items + 1, num_items + 1)
    return np.sum((2 * idx - num_items - 1) * sorted_count) / total_num / num_items


def recbole_shannon_entropy(item_matrix: np.ndarray) -> float:
    item_count = dict(Counter(item_matrix.flatten()))
    total_num = item_matrix.shape[0] * item_matrix.shape[1]
    result = 0.0
    for cnt in item_count.values():
        p = cnt / total_num
        result += -p * np.log(p)
    return result / len(item_count)


def test_conversion_to_recbole_definitions():
    """RecBole counts [PAD] in the catalog and divides entropy by distinct items."""
    rng = np.random.default_rng(0)
    real_catalog = 1682
    # Skewed exposure, like a real recommender (RecBole ids are shifted by one for [PAD]).
    top = np.stack([rng.choice(300, size=10, replace=False, p=_zipf(300)) for _ in range(943)])
    recbole_top = top + 1
    coverage = div.item_coverage(top, real_catalog)
    assert recbole_coverage(recbole_top, real_catalog + 1) == pytest.approx(
        coverage * real_catalog / (real_catalog + 1), abs=1e-12
    )
    assert recbole_gini(recbole_top, real_catalog + 1) == pytest.approx(
        div.gini_index(top, real_catalog + 1), abs=1e-12
    )
    assert div.gini_index(top, real_catalog) != pytest.approx(
        div.gini_index(top, real_catalog + 1), abs=1e-6
    )
    distinct = len(np.unique(top))
    assert recbole_shannon_entropy(recbole_top) == pytest.approx(
        div.exposure_entropy(top) / distinct, abs=1e-12
    )


def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1)
    return weights / weights.sum()
