"""Paired bootstrap over users: is model A really better than model B on these cases?

Both models are evaluated on the same cases, so the per-user differences d_u = a_u - b_u
carry the comparison. The bootstrap resamples users with replacement (Efron & Tibshirani,
*An Introduction to the Bootstrap*, 1993, ch. 16; Sakai, SIGIR 2006 for IR evaluation):
the percentile interval of the resampled mean differences is the confidence interval, and
the two-sided p-value is twice the smaller share of resampled means on either side of 0.
The resampling is ``scipy.stats.bootstrap`` (percentile method); the replay's
within-week stratified variant (``stratified_bootstrap``) is recloop's own, as scipy has no
stratified resampling. Seeded (NumPy PCG64), so the same inputs give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recloop.errors import UnusableInputError

_CHUNK_CELLS = 20_000_000  # resampled values held in memory at once


@dataclass(frozen=True)
class BootstrapResult:
    """Mean difference (A - B) with its bootstrap confidence interval and p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    samples: int = 0
    confidence: float = 0.95


def paired_bootstrap(
    per_user_a,
    per_user_b,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Bootstrap the mean of paired differences a_u - b_u.

    Args:
        per_user_a: metric values of model A, one per user (array-like, or a Series indexed
            by user: two Series are aligned on their index first).
        per_user_b: the same metric of model B on the same users.
        samples: bootstrap resamples.
        seed: random seed.
        confidence: coverage of the percentile interval.

    Returns:
        BootstrapResult: ``diff`` = mean(a - b), ``[low, high]`` percentile interval and the
        two-sided p-value of "no difference" (1.0 when every difference is 0).

    Raises:
        UnusableInputError: different lengths, no users, or missing values.
    """
    from scipy.stats import bootstrap

    a, b = _paired_arrays(per_user_a, per_user_b)
    differences = a - b
    n = len(differences)
    if n == 1:  # every resample is the one user (scipy needs two observations)
        means = np.full(samples, differences[0])
        low = high = float(differences[0])
    else:
        result = bootstrap(
            (differences,),
            np.mean,
            n_resamples=samples,
            batch=max(1, _CHUNK_CELLS // n),  # bounds the resampled values held at once
            vectorized=True,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        means = result.bootstrap_distribution
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return BootstrapResult(
        float(differences.mean()), low, high, two_sided_p(means), samples, confidence
    )


def per_user_means(per_user: pd.DataFrame, metric: str) -> pd.Series:
    """One value per user (mean over the user's cases) of ``metric``, indexed by user id.

    Next-window evaluation has several cases per user; the bootstrap resamples users.
    """
    return per_user.groupby("user_id")[metric].mean()


def _paired_arrays(a, b) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(a, pd.Series) and isinstance(b, pd.Series) and not a.index.equals(b.index):
        if set(a.index) != set(b.index):
            raise UnusableInputError("the two models were not evaluated on the same users")
        b = b.reindex(a.index)
    a_values = np.asarray(a, dtype=np.float64)
    b_values = np.asarray(b, dtype=np.float64)
    if a_values.shape != b_values.shape or a_values.ndim != 1:
        raise UnusableInputError(
            f"paired values need the same 1-D shape, got {a_values.shape} and {b_values.shape}"
        )
    if len(a_values) == 0:
        raise UnusableInputError("no users to compare")
    if np.isnan(a_values).any() or np.isnan(b_values).any():
        raise UnusableInputError("per-user metric values contain NaN")
    return a_values, b_values


def stratified_bootstrap(
    sums: dict[str, list[np.ndarray]],
    counts: list[np.ndarray],
    *,
    samples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Bootstrap of "mean over periods of the per-case mean metric", for several models.

    A replay reports each model's metric per period (week) as the mean over that period's
    cases, and then the mean over periods. To put an interval on exactly that number,
    users are resampled with replacement *within* each period (the same draw for every
    model, so comparisons are paired) and each period's mean is recomputed as
    sum(resampled users' case metric sums) / sum(their case counts).

    Args:
        sums: per model, one array per period of per-user sums of the case metric.
        counts: one array per period of per-user case counts (aligned with ``sums``).
        samples, seed: as in :func:`paired_bootstrap`.

    Returns:
        (draws, points): per model the ``samples`` resampled statistics (pass them, or
        differences of them, to :func:`interval` and :func:`two_sided_p`), and the
        statistic on the data as observed (equal to the mean of the periods' means).
    """
    if not counts or any(len(c) == 0 for c in counts):
        raise UnusableInputError("every period needs at least one user")
    rng = np.random.default_rng(seed)
    draws = {name: np.zeros(samples) for name in sums}
    points = {name: 0.0 for name in sums}
    for period, count in enumerate(counts):
        picks = rng.integers(0, len(count), size=(samples, len(count)))
        denominator = count[picks].sum(axis=1)
        for name, per_period in sums.items():
            values = per_period[period]
            draws[name] += values[picks].sum(axis=1) / denominator
            points[name] += float(values.sum() / count.sum())
    periods = len(counts)
    return {n: d / periods for n, d in draws.items()}, {n: p / periods for n, p in points.items()}


def interval(draws: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap draws."""
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


def two_sided_p(draws: np.ndarray) -> float:
    """Twice the smaller share of resampled differences on either side of 0 (capped at 1);
    1.0 when every draw is 0 (the two models agree on every case)."""
    if np.all(draws == 0):
        return 1.0
    return float(min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0))))
