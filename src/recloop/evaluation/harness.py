"""The evaluation harness: rank the whole catalog for each case, then measure the lists.

Any model that satisfies ``Scorer`` (the trained ``Recommender``, the baselines, a light
wrapper around a model in training) is evaluated the same way: scores for every item,
the case's excluded (already seen) items masked with -inf, top-K taken with a deterministic
tie rule (equal scores: the item earlier in ``scorer.item_ids`` first), then relevance
(``metrics``) and beyond-accuracy (``diversity``) metrics. No side effects: MLflow logging
lives in ``recloop.evaluation.tracking``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recloop.columns import GENRES_COL, ITEM_COL
from recloop.errors import UnusableInputError
from recloop.evaluation import diversity as div
from recloop.evaluation.metrics import relevance_per_case
from recloop.evaluation.popularity import Popularity
from recloop.evaluation.protocols import EvalCases, activity_bucket
from recloop.scorer import Scorer
from recloop.settings import EvalSettings

_DEFAULTS = EvalSettings()
_MAX_CELLS = 32_000_000  # float64 scores held at once (256 MB): bounds memory per batch


@dataclass
class _Catalog:
    """Per-item tables aligned on ``ids`` (sorted): what diversity metrics read."""

    ids: np.ndarray
    counts: np.ndarray
    user_counts: np.ndarray
    n_users: int
    is_tail: np.ndarray
    genres: np.ndarray | None
    text: np.ndarray | None

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        """Catalog rows of ``item_ids``; -1 stays -1."""
        rows = np.searchsorted(self.ids, np.maximum(item_ids, 0))
        return np.where(item_ids >= 0, rows, -1)


@dataclass
class EvalResult:
    """Metrics of one model on one set of cases.

    Attributes:
        metrics: averages over cases (``"ndcg@10"``...) plus aggregate list metrics
            (``"coverage@10"``, ``"gini@10"``, ``"entropy@10"``).
        per_user: one row per case: ``user_id``, ``target``, ``n_history``, ``activity``,
            ``scenario``, ``cold_item`` and every per-case metric.
        k: cut-off.
        top_items: ``(n_cases, k)`` recommended item ids (-1 pads short lists).
        eval_seconds: wall time of scoring, ranking and measuring.
        ild_source: ``"text"`` (item text embeddings) or ``"genre"`` for ``ild@k``.
    """

    metrics: dict[str, float]
    per_user: pd.DataFrame
    k: int
    top_items: np.ndarray
    eval_seconds: float
    ild_source: str
    _cases: EvalCases = field(repr=False)
    _catalog: _Catalog = field(repr=False)

    @property
    def n_cases(self) -> int:
        return len(self.per_user)

    def at_k(self, k: int) -> EvalResult:
        """The same evaluation cut at a smaller ``k`` (no re-scoring)."""
        if not 0 < k <= self.k:
            raise UnusableInputError(f"k must be in 1..{self.k}, not {k}")
        start = time.perf_counter()
        top = self.top_items[:, :k]
        metrics, per_case = _measure(top, self._cases, self._catalog, k)
        per_user = pd.concat([self.per_user[_META_COLUMNS], per_case], axis=1)
        return EvalResult(
            metrics,
            per_user,
            k,
            top,
            time.perf_counter() - start,
            self.ild_source,
            self._cases,
            self._catalog,
        )

    def slice_table(self, by: str) -> pd.DataFrame:
        """Per-case metrics averaged within each value of ``by`` (activity, scenario...)."""
        columns = [c for c in self.per_user.columns if "@" in c]
        grouped = self.per_user.groupby(by, dropna=False, observed=True)
        table = grouped[columns].mean()
        table.insert(0, "cases", grouped.size())
        return table.reset_index()


_META_COLUMNS = ["user_id", "target", "n_history", "activity", "scenario", "cold_item"]


def evaluate_scorer(
    scorer: Scorer,
    cases: EvalCases,
    *,
    k: int = _DEFAULTS.k,
    items: pd.DataFrame | None = None,
    item_embeddings: np.ndarray | None = None,
    popularity: Popularity | pd.DataFrame | None = None,
    batch_size: int = _DEFAULTS.batch_size,
    tail_ratio: float = _DEFAULTS.tail_ratio,
    activity_edges: Sequence[int] = tuple(_DEFAULTS.activity_edges),
    progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Rank the full catalog for every case and compute all metrics @k.

    Args:
        scorer: the model (``Scorer``); items outside ``scorer.item_ids`` cannot be
            recommended (targets among them count as misses).
        cases: from ``loo_cases`` / ``next_window_cases`` or built by hand.
        k: list length.
        items: canonical item catalog (``item_id``, ``genres``): its size is the coverage
            denominator; genres feed ``ild_genre`` and ``category_entropy``. Default: the
            scorer's items, without genres.
        item_embeddings: ``(len(scorer.item_ids), d)`` text embeddings aligned with
            ``scorer.item_ids``, for ``ild@k``; without them ``ild@k`` uses genres.
        popularity: training events (a DataFrame) or a ``Popularity``; default: the
            items in the cases' histories.
        batch_size: cases per ``scorer.score`` call.
        tail_ratio: long-tail definition (``diversity.tail_items``).
        activity_edges: history-length boundaries of the ``activity`` slice.
        progress: called with the number of cases after each scored batch (progress bars).

    Returns:
        EvalResult: metrics, per-case table and the top-k lists.
    """
    if len(cases) == 0:
        raise UnusableInputError("no evaluation cases")
    start = time.perf_counter()
    catalog = _build_catalog(scorer, items, item_embeddings, popularity, cases, tail_ratio)
    top_items = rank_top_k(scorer, cases, k, batch_size, progress)
    metrics, per_case = _measure(top_items, cases, catalog, k)
    meta = _case_metadata(cases, activity_edges)
    per_user = pd.concat([meta, per_case], axis=1)
    source = "text" if catalog.text is not None else "genre"
    return EvalResult(
        metrics, per_user, k, top_items, time.perf_counter() - start, source, cases, catalog
    )


def evaluate_lists(
    top_items: np.ndarray,
    cases: EvalCases,
    *,
    item_ids: np.ndarray,
    items: pd.DataFrame | None = None,
    item_embeddings: np.ndarray | None = None,
    popularity: Popularity | pd.DataFrame | None = None,
    tail_ratio: float = _DEFAULTS.tail_ratio,
    activity_edges: Sequence[int] = tuple(_DEFAULTS.activity_edges),
) -> EvalResult:
    """Measure ready-made top-K lists (e.g. MMR re-ranked ones) like ``evaluate_scorer``.

    Args:
        top_items: ``(n_cases, k)`` recommended item ids, ``-1`` padding.
        cases: the cases the lists answer, in the same order.
        item_ids: the model's catalog (rows of ``item_embeddings``).
        items, item_embeddings, popularity, tail_ratio, activity_edges: as in
            ``evaluate_scorer``.

    Returns:
        EvalResult.
    """
    start = time.perf_counter()
    top_items = np.asarray(top_items, dtype=np.int64)
    holder = _ItemIds(np.asarray(item_ids, dtype=np.int64))
    catalog = _build_catalog(holder, items, item_embeddings, popularity, cases, tail_ratio)
    k = top_items.shape[1]
    metrics, per_case = _measure(top_items, cases, catalog, k)
    per_user = pd.concat([_case_metadata(cases, activity_edges), per_case], axis=1)
    source = "text" if catalog.text is not None else "genre"
    return EvalResult(
        metrics, per_user, k, top_items, time.perf_counter() - start, source, cases, catalog
    )


@dataclass
class _ItemIds:
    item_ids: np.ndarray


def rank_top_k(
    scorer: Scorer,
    cases: EvalCases,
    k: int,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Top-k item ids per case, excluded items masked; ``-1`` where fewer than k remain."""
    item_ids = np.asarray(scorer.item_ids, dtype=np.int64)
    order = np.argsort(item_ids, kind="stable")
    out = np.full((len(cases), k), -1, dtype=np.int64)
    # Large catalogs: fewer cases per batch so one score matrix stays within _MAX_CELLS.
    batch_size = max(1, min(batch_size, _MAX_CELLS // max(len(item_ids), 1)))
    # Cases of similar history length together: a sequence model pads each batch to its
    # longest history, so mixing a 2-event user with a 200-event one wastes the work.
    by_length = np.argsort([len(h) for h in cases.histories], kind="stable")
    for start in range(0, len(cases), batch_size):
        stop = min(start + batch_size, len(cases))
        rows = by_length[start:stop]
        raw = np.asarray(_score_rows(scorer, cases, rows))
        # A copy (masked below), in the scorer's float type: float32 ranks as float64 would.
        scores = np.array(raw, dtype=raw.dtype if raw.dtype.kind == "f" else np.float64)
        if scores.shape != (stop - start, len(item_ids)):
            raise UnusableInputError(
                f"scorer returned shape {scores.shape}, expected {(stop - start, len(item_ids))}"
            )
        cells = _excluded_cells([cases.exclude[r] for r in rows], item_ids, order)
        scores[cells] = -np.inf
        columns_top = top_k_columns(scores, k)
        out[rows] = np.where(columns_top >= 0, item_ids[np.maximum(columns_top, 0)], -1)
        if progress is not None:
            progress(stop - start)
    return out


def top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """Columns of the k highest finite scores per row, ties to the lower column; -1 pads.

    Array operations over the whole block (no per-row Python): ``torch.topk`` finds each
    row's k best (several times faster than ``np.partition`` on a catalog-wide row); which
    of several columns tied at the k-th score it returns is unspecified, so the few rows
    with more such ties than places are ranked again exactly (every column above the k-th
    score is in, the lowest tied columns fill the rest); the chosen k are then ordered
    exactly (score descending, column ascending).
    """
    import torch  # loaded already wherever a model scores; topk is its fastest selection

    n, m = scores.shape
    k_eff = min(k, m)
    ranked = np.full((n, k), -1, dtype=np.int64)
    if n == 0 or k_eff == 0:
        return ranked
    finite_or_low = scores < np.inf  # False for NaN and +inf: only finite scores are ranked
    work = scores if finite_or_low.all() else np.where(finite_or_low, scores, -np.inf)
    work = np.ascontiguousarray(work)
    values, columns = (t.numpy() for t in torch.topk(torch.from_numpy(work), k_eff, dim=1))
    kth = values[:, -1:]
    # More columns at or above the k-th score than places: ties the selection cut arbitrarily.
    crowded = np.flatnonzero(
        (kth[:, 0] > -np.inf) & (np.count_nonzero(work >= kth, axis=1) > k_eff)
    )
    if len(crowded):
        values, columns = values.copy(), columns.copy()
        values[crowded], columns[crowded] = _lowest_ties_first(work[crowded], kth[crowded], k_eff)
    rows = np.repeat(np.arange(n), k_eff)
    values, columns = values.ravel(), columns.ravel()
    order = np.lexsort((columns, -values, rows))
    values, columns = values[order].reshape(n, k_eff), columns[order].reshape(n, k_eff)
    ranked[:, :k_eff] = np.where(values > -np.inf, columns, -1)
    return ranked


def _lowest_ties_first(work: np.ndarray, kth: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, columns) (rows, k) of each row's k best, ties at ``kth`` to the lowest columns:
    for rows whose k-th score is finite and shared by more columns than places remain."""
    above = work > kth
    tied = work == kth
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    rows, columns = np.nonzero(chosen)  # exactly k per row, in row order
    return work[rows, columns].reshape(-1, k), columns.reshape(-1, k)


def _excluded_cells(exclude: Sequence[np.ndarray], item_ids: np.ndarray, order: np.ndarray):
    """(row, column) pairs of the excluded items that the scorer knows."""
    lengths = [len(e) for e in exclude]
    if sum(lengths) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(exclude)), lengths)
    wanted = np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude])
    sorted_ids = item_ids[order]
    at = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
    known = sorted_ids[at] == wanted
    return rows[known], order[at[known]]


def score_cases(scorer: Scorer, cases: EvalCases, start: int, stop: int) -> Any:
    """``scorer.score`` of cases ``start:stop`` with their scenarios and times (when each
    held-out event happened: the moment of the request)."""

    def part(values):
        return None if values is None else values[start:stop]

    return scorer.score(
        cases.histories[start:stop],
        scenarios=part(cases.scenarios),
        times=part(cases.timestamps),
    )


def _score_rows(scorer: Scorer, cases: EvalCases, rows: np.ndarray) -> Any:
    """``scorer.score`` of the cases at ``rows`` (as :func:`score_cases`)."""

    def part(values):
        if values is None:
            return None
        return values[rows] if isinstance(values, np.ndarray) else [values[r] for r in rows]

    return scorer.score(
        part(cases.histories), scenarios=part(cases.scenarios), times=part(cases.timestamps)
    )


def _build_catalog(scorer, items, item_embeddings, popularity, cases, tail_ratio) -> _Catalog:
    scorer_ids = np.asarray(scorer.item_ids, dtype=np.int64)
    ids = np.unique(scorer_ids)
    genres = None
    if items is not None:
        ids = np.union1d(ids, items[ITEM_COL].to_numpy(dtype=np.int64))
        if GENRES_COL in items.columns:
            by_id = items.set_index(ITEM_COL)[GENRES_COL].reindex(ids)
            genres, _ = div.genre_matrix(by_id.where(by_id.notna(), "").tolist())
    text = None
    if item_embeddings is not None:
        embeddings = np.asarray(item_embeddings, dtype=np.float64)
        if embeddings.shape[0] != len(scorer_ids):
            raise UnusableInputError(
                f"item_embeddings has {embeddings.shape[0]} rows for {len(scorer_ids)} items"
            )
        text = np.zeros((len(ids), embeddings.shape[1]))
        text[np.searchsorted(ids, scorer_ids)] = div.unit_rows(embeddings)
    if popularity is None:
        popularity = Popularity.from_histories(cases)
    elif isinstance(popularity, pd.DataFrame):
        popularity = Popularity.from_events(popularity)
    counts, user_counts = popularity.aligned(ids)
    return _Catalog(
        ids,
        counts,
        user_counts,
        popularity.n_users,
        div.tail_items(counts, tail_ratio),
        None if genres is None else div.unit_rows(genres),
        text,
    )


def _measure(top_items: np.ndarray, cases: EvalCases, catalog: _Catalog, k: int):
    """Aggregate metrics dict and the per-case metric frame for ranked lists."""
    per_case = {
        f"{name}@{k}": values
        for name, values in relevance_per_case(top_items, cases.targets).items()
    }
    top = catalog.positions(top_items)
    genre_ild = None
    if catalog.genres is not None:
        genre_ild = div.intra_list_diversity(top, catalog.genres)
        per_case[f"ild_genre@{k}"] = genre_ild
    if catalog.text is not None:
        per_case[f"ild@{k}"] = div.intra_list_diversity(top, catalog.text)
    elif genre_ild is not None:
        per_case[f"ild@{k}"] = genre_ild
    per_case[f"novelty@{k}"] = div.novelty(top, catalog.user_counts, catalog.n_users)
    per_case[f"avg_popularity@{k}"] = div.average_popularity(top, catalog.counts)
    per_case[f"tail_share@{k}"] = div.tail_share(top, catalog.is_tail)
    if catalog.genres is not None:
        per_case[f"category_entropy@{k}"] = div.category_entropy(top, catalog.genres)
    frame = pd.DataFrame(per_case)
    metrics = {name: float(frame[name].mean()) for name in frame.columns}
    metrics[f"coverage@{k}"] = div.item_coverage(top, len(catalog.ids))
    metrics[f"gini@{k}"] = div.gini_index(top, len(catalog.ids))
    metrics[f"entropy@{k}"] = div.exposure_entropy(top)
    return metrics, frame


def _case_metadata(cases: EvalCases, activity_edges: Sequence[int]) -> pd.DataFrame:
    lengths = np.array([len(h) for h in cases.histories], dtype=np.int64)
    n = len(cases)
    return pd.DataFrame(
        {
            "user_id": cases.user_ids,
            "target": [int(t[0]) if len(t) else -1 for t in cases.targets],
            "n_history": lengths,
            "activity": activity_bucket(lengths, activity_edges),
            "scenario": cases.scenarios if cases.scenarios is not None else [None] * n,
            "cold_item": cases.cold_items if cases.cold_items is not None else np.zeros(n, bool),
        }
    )
