"""Baselines that run through the same harness as the real model.

Each one is a ``recloop.scorer.Scorer`` (it ignores the request's scenario and time),
fitted on training events only: random, global popularity (RecBole's ``Pop``: training
interaction counts), recent popularity (counts in the last window before the cut-off) and
item-kNN on co-occurrence (RecBole's ``ItemKNN``: cosine similarity of item columns of the
binary user-item matrix, each item keeping its ``neighbours`` most similar items).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recloop.columns import ITEM_COL, TIMESTAMP_COL, USER_COL
from recloop.errors import UnusableInputError

BASELINES = ("random", "pop", "recent-pop", "itemknn")


class _CatalogScorer:
    """Shared bits: the catalog ids and mapping histories to columns."""

    def __init__(self, item_ids: np.ndarray) -> None:
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self._order = np.argsort(self.item_ids, kind="stable")

    def columns_of(self, items: Sequence[int]) -> np.ndarray:
        """Columns of the known ``items`` (unknown ids are dropped)."""
        items = np.asarray(items, dtype=np.int64)
        sorted_ids = self.item_ids[self._order]
        at = np.minimum(np.searchsorted(sorted_ids, items), len(sorted_ids) - 1)
        return self._order[at[sorted_ids[at] == items]]

    def _aligned_counts(self, events: pd.DataFrame) -> np.ndarray:
        counts = events[ITEM_COL].value_counts()
        return counts.reindex(self.item_ids, fill_value=0).to_numpy(dtype=np.float64)


class RandomScorer(_CatalogScorer):
    """Uniform random scores; seeded, so a run is reproducible."""

    def __init__(self, item_ids: np.ndarray, seed: int = 0) -> None:
        super().__init__(item_ids)
        self._rng = np.random.default_rng(seed)

    def score(
        self,
        histories: Sequence[Sequence[int]],
        *,
        scenarios: Sequence[str | None] | None = None,
        times: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        return self._rng.random((len(histories), len(self.item_ids)))


class PopularityScorer(_CatalogScorer):
    """Every user gets the items ranked by training interaction count (RecBole ``Pop``)."""

    def __init__(self, train_events: pd.DataFrame, item_ids: np.ndarray) -> None:
        super().__init__(item_ids)
        self.counts = self._aligned_counts(train_events)

    def score(
        self,
        histories: Sequence[Sequence[int]],
        *,
        scenarios: Sequence[str | None] | None = None,
        times: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(histories), len(self.item_ids)))


class RecentPopularityScorer(PopularityScorer):
    """Popularity over the last ``window_seconds`` of training; global count breaks ties.

    score(i) = recent_count(i) + global_count(i) / (max global count + 1), so the global
    part (< 1) only orders items with equal recent counts.
    """

    def __init__(
        self, train_events: pd.DataFrame, item_ids: np.ndarray, window_seconds: float
    ) -> None:
        super().__init__(train_events, item_ids)
        end = train_events[TIMESTAMP_COL].max()
        recent = train_events[train_events[TIMESTAMP_COL] > end - window_seconds]
        self.counts = self._aligned_counts(recent) + self.counts / (self.counts.max() + 1.0)


class ItemKNNScorer(_CatalogScorer):
    """Item-kNN on co-occurrence: score(u, i) = Σ_{j in history(u)} sim(j, i).

    sim(j, i) = |U_j ∩ U_i| / (sqrt(|U_j|) sqrt(|U_i|) + shrink) (cosine of the binary item
    columns), 0 on the diagonal, and for each item i only its ``neighbours`` largest
    sim(·, i) kept, as RecBole's ``ComputeSimilarity(topk, shrink)``.
    """

    def __init__(
        self,
        train_events: pd.DataFrame,
        item_ids: np.ndarray,
        neighbours: int = 100,
        shrink: float = 0.0,
        block: int = 1024,
    ) -> None:
        from scipy import sparse

        super().__init__(item_ids)
        n_items = len(self.item_ids)
        pairs = train_events[[USER_COL, ITEM_COL]].drop_duplicates()
        columns = self.columns_of(pairs[ITEM_COL].to_numpy())
        known = np.isin(pairs[ITEM_COL].to_numpy(), self.item_ids)
        users = pd.factorize(pairs[USER_COL].to_numpy()[known])[0]
        matrix = sparse.csr_matrix(
            (np.ones(len(users)), (users, columns)), shape=(users.max() + 1, n_items)
        ).tocsc()
        norms = np.sqrt(np.asarray(matrix.sum(axis=0)).ravel())
        rows, cols, values = [], [], []
        keep = min(neighbours, n_items - 1)
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            co = (matrix.T @ matrix[:, start:stop]).toarray()
            sim = co / (np.outer(norms, norms[start:stop]) + shrink + 1e-12)
            sim[np.arange(start, stop), np.arange(stop - start)] = 0.0
            top = (
                np.argpartition(-sim, keep - 1, axis=0)[:keep]
                if keep > 0
                else np.zeros((0, stop - start), int)
            )
            top_values = np.take_along_axis(sim, top, axis=0)
            nonzero = top_values > 0
            rows.append(top[nonzero])
            cols.append(np.broadcast_to(np.arange(start, stop), top.shape)[nonzero])
            values.append(top_values[nonzero])
        self.similarity = sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
        )

    def score(
        self,
        histories: Sequence[Sequence[int]],
        *,
        scenarios: Sequence[str | None] | None = None,
        times: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        from scipy import sparse

        columns = [np.unique(self.columns_of(h)) for h in histories]
        rows = np.repeat(np.arange(len(histories)), [len(c) for c in columns])
        data = np.ones(len(rows))
        flat = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
        history = sparse.csr_matrix(
            (data, (rows, flat)), shape=(len(histories), len(self.item_ids))
        )
        return (history @ self.similarity).toarray()


def build_baseline(
    name: str,
    train_events: pd.DataFrame,
    item_ids: np.ndarray,
    *,
    seed: int = 0,
    recent_window_seconds: float = 30 * 86400.0,
    neighbours: int = 100,
) -> _CatalogScorer:
    """Fit the baseline called ``name`` (one of ``BASELINES``) on ``train_events``.

    Raises:
        UnusableInputError: unknown name or no training events.
    """
    if train_events.empty:
        raise UnusableInputError("no training events to fit a baseline on")
    if name == "random":
        return RandomScorer(item_ids, seed)
    if name == "pop":
        return PopularityScorer(train_events, item_ids)
    if name == "recent-pop":
        return RecentPopularityScorer(train_events, item_ids, recent_window_seconds)
    if name == "itemknn":
        return ItemKNNScorer(train_events, item_ids, neighbours)
    raise UnusableInputError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
