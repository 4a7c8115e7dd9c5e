"""Paired bootstrap: tight for a model against itself, seeded, detects a real difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recloop.errors import UnusableInputError
from recloop.evaluation.significance import paired_bootstrap, per_user_means


def test_model_against_itself_gives_a_zero_width_interval():
    values = np.random.default_rng(0).random(943)
    result = paired_bootstrap(values, values, samples=500, seed=1)
    assert result.diff == 0.0 and result.low == 0.0 and result.high == 0.0
    assert result.p_value == 1.0


def test_seeded_and_reproducible():
    rng = np.random.default_rng(1)
    a, b = rng.random(500), rng.random(500)
    first = paired_bootstrap(a, b, samples=300, seed=7)
    assert paired_bootstrap(a, b, samples=300, seed=7) == first
    assert paired_bootstrap(a, b, samples=300, seed=8) != first


def test_detects_a_real_difference_and_covers_it():
    rng = np.random.default_rng(2)
    b = rng.binomial(1, 0.10, size=2000).astype(float)
    a = np.maximum(b, rng.binomial(1, 0.05, size=2000))  # A finds everything B finds, and more
    result = paired_bootstrap(a, b, samples=1000, seed=0)
    assert result.low > 0 and result.p_value < 0.01
    assert result.low <= a.mean() - b.mean() <= result.high
    noise = paired_bootstrap(rng.random(300), rng.random(300), samples=1000, seed=0)
    assert noise.low < 0 < noise.high and noise.p_value > 0.05


def test_series_are_aligned_by_user_and_mismatches_are_errors():
    rng = np.random.default_rng(3)
    users = np.arange(200)
    a = pd.Series(rng.random(200), index=users)
    b = pd.Series(a.to_numpy() * 0.5 + rng.random(200) * 0.1, index=users).sample(
        frac=1, random_state=0
    )
    aligned = paired_bootstrap(a, b, samples=300, seed=0)
    assert aligned == paired_bootstrap(a.to_numpy(), b.loc[users].to_numpy(), samples=300, seed=0)
    assert aligned != paired_bootstrap(a.to_numpy(), b.to_numpy(), samples=300, seed=0)
    with pytest.raises(UnusableInputError, match="same users"):
        paired_bootstrap(a, pd.Series([1.0], index=[999]), samples=10)
    with pytest.raises(UnusableInputError, match="same 1-D shape"):
        paired_bootstrap([1.0, 2.0], [1.0], samples=10)


def test_per_user_means_averages_cases_of_a_user():
    table = pd.DataFrame({"user_id": [1, 1, 2], "ndcg@10": [1.0, 0.0, 0.5]})
    assert per_user_means(table, "ndcg@10").to_dict() == {1: 0.5, 2: 0.5}


def test_stratified_bootstrap_point_is_the_mean_of_period_means_and_pairs_models():
    import numpy as np

    from recloop.evaluation.significance import interval, stratified_bootstrap, two_sided_p

    rng = np.random.default_rng(3)
    counts = [rng.integers(1, 6, size=n).astype(float) for n in (40, 25, 60)]
    a = [c * rng.uniform(0, 0.3, size=len(c)) for c in counts]  # per-user sums of a metric
    b = [s + c * 0.05 for s, c in zip(a, counts, strict=True)]  # B is 0.05 better per case
    draws, points = stratified_bootstrap({"a": a, "b": b, "a2": a}, counts, samples=500, seed=1)

    expected = np.mean([s.sum() / c.sum() for s, c in zip(a, counts, strict=True)])
    assert points["a"] == pytest.approx(expected)
    assert points["b"] - points["a"] == pytest.approx(0.05)
    low, high = interval(draws["a"])
    assert low < points["a"] < high
    # Paired: the same resamples for every model, so B - A is exactly 0.05 in every draw.
    np.testing.assert_allclose(draws["b"] - draws["a"], 0.05)
    assert two_sided_p(draws["a2"] - draws["a"]) == 1.0
    assert two_sided_p(draws["b"] - draws["a"]) == 0.0
    again, _ = stratified_bootstrap({"a": a}, counts, samples=500, seed=1)
    np.testing.assert_array_equal(again["a"], draws["a"])


def test_paired_bootstrap_is_the_textbook_percentile_bootstrap():
    """scipy.stats.bootstrap does the resampling; the interval and p-value are those of a
    plain NumPy bootstrap of the mean difference with the same seed."""
    from recloop.evaluation.significance import interval, two_sided_p

    rng = np.random.default_rng(4)
    a, b = rng.random(400), rng.random(400) * 0.9
    result = paired_bootstrap(a, b, samples=700, seed=11, confidence=0.9)
    differences = a - b
    picks = np.random.default_rng(11).integers(0, len(differences), size=(700, len(differences)))
    means = differences[picks].mean(axis=1)
    assert (result.low, result.high) == pytest.approx(interval(means, 0.9), rel=1e-12)
    assert result.p_value == pytest.approx(two_sided_p(means))
    assert result.diff == pytest.approx(differences.mean()) and result.samples == 700


def test_one_user_gives_a_point_interval():
    result = paired_bootstrap([0.5], [0.25], samples=50, seed=0)
    assert (result.diff, result.low, result.high, result.p_value) == (0.25, 0.25, 0.25, 0.0)
    assert paired_bootstrap([0.5], [0.5], samples=50).p_value == 1.0
