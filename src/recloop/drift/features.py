"""Behaviour features of one time window, computed vectorised, ready for drift tests.

A window of events becomes four tables, each compared column by column against the same
tables of the reference window:

- ``events``: one row per event: value, event type, hour, weekday, scenario, the item's
  popularity rank in its chunk, whether the item is new, the gap to the user's previous event.
- ``categories``: one row per (event, category of its item): the category mix.
- ``users``: one row per active (user, chunk): activity, mean value, top category,
  category diversity, recency.
- ``items``: one row per active (item, chunk): popularity, mean value, newness.
- ``model`` (when a scorer is given): one row per user with at least two events in a chunk:
  the champion's scores for that user's history and the rank it gives the user's next item.

Why chunks: per-user activity, popularity ranks and "new item" depend on how long the window
is, and the reference (weeks or months) is longer than the current window (7 days). Both
windows are cut into chunks as long as the current window, anchored at each window's end, and
every per-window statistic is computed per chunk; so a week is always compared with weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from recloop.clock import SECONDS_PER_DAY
from recloop.columns import (
    EVENT_TYPE_COL,
    FIRST_SEEN_COL,
    GENRE_SEPARATOR,
    GENRES_COL,
    ITEM_COL,
    SCENARIO_COL,
    TIMESTAMP_COL,
    USER_COL,
    VALUE_COL,
)
from recloop.scorer import Scorer

ColumnKind = Literal["numerical", "categorical"]
CHUNK_COL = "_chunk"
CHUNK_END_COL = "_chunk_end"
UNKNOWN_CATEGORY = "(unknown)"
SECONDS_PER_HOUR = 3600.0

# The columns of each table and their type; the policy file names them "table.column".
FEATURE_KINDS: dict[str, dict[str, ColumnKind]] = {
    "events": {
        "value": "numerical",
        "event_type": "categorical",
        "hour": "categorical",
        "weekday": "categorical",
        "scenario": "categorical",
        "item_pop_rank": "numerical",
        "item_is_new": "categorical",
        "user_gap_hours": "numerical",
    },
    "categories": {"category": "categorical"},
    "users": {
        "activity": "numerical",
        "mean_value": "numerical",
        "top_category": "categorical",
        "category_diversity": "numerical",
        "recency_hours": "numerical",
    },
    "items": {
        "popularity": "numerical",
        "mean_value": "numerical",
        "is_new": "categorical",
    },
    "model": {
        "score_top": "numerical",
        "score_next": "numerical",
        "next_rank_pct": "numerical",
    },
}


@dataclass(frozen=True)
class FeatureOptions:
    """How windows are cut and summarised (from ``DriftSettings``)."""

    chunk_seconds: int
    k: int = 10
    max_model_users: int = 2000
    seed: int = 0


@dataclass
class WindowFeatures:
    """The feature tables of one window and a few window-level figures."""

    tables: dict[str, pd.DataFrame]
    summary: dict[str, float] = field(default_factory=dict)


def item_first_seen(
    events: pd.DataFrame, items: pd.DataFrame | None, censor_seconds: int
) -> pd.Series:
    """When each item was first seen: the catalog's ``first_seen``, else its first event.

    Items first seen within ``censor_seconds`` of the start of the known history get no date
    (NaN): they were already there when recording began, their real age is unknown
    (censored), so they never count as new.

    Args:
        events: all events known to the check (reference and current together).
        items: the catalog (may lack ``first_seen`` or hold nulls).
        censor_seconds: length of the censored start (the chunk length).

    Returns:
        pd.Series: Unix seconds (float, NaN when unknown), indexed by item id.
    """
    seen = events.groupby(ITEM_COL)[TIMESTAMP_COL].min().astype("float64")
    if items is not None and FIRST_SEEN_COL in items:
        catalog = pd.to_numeric(items.set_index(ITEM_COL)[FIRST_SEEN_COL], errors="coerce")
        catalog = catalog[catalog.notna()].astype("float64")
        seen = catalog.combine_first(seen)
    if seen.empty:
        return seen
    history_start = min(float(seen.min()), float(events[TIMESTAMP_COL].min()))
    seen[seen < history_start + censor_seconds] = np.nan
    return seen


def assign_chunks(events: pd.DataFrame, end: int, chunk_seconds: int) -> pd.DataFrame:
    """Add chunk index (0 = newest) and chunk end, cutting back from ``end`` (exclusive)."""
    chunk, chunk_end = _chunks(events[TIMESTAMP_COL].to_numpy(dtype="int64"), end, chunk_seconds)
    out = events.copy()
    out[CHUNK_COL] = chunk
    out[CHUNK_END_COL] = chunk_end
    return out


def _chunks(ts: np.ndarray, end: int, chunk_seconds: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk index (0 = newest) and chunk end of each time, cutting back from ``end``."""
    chunk = (int(end) - 1 - ts) // int(chunk_seconds)
    return chunk, int(end) - chunk * int(chunk_seconds)


# The columns the feature tables read; a store's frame may carry more.
_FEATURE_INPUTS = [USER_COL, ITEM_COL, TIMESTAMP_COL, VALUE_COL, EVENT_TYPE_COL, SCENARIO_COL]


def chunked_in_order(events: pd.DataFrame, end: int, chunk_seconds: int) -> pd.DataFrame:
    """``assign_chunks`` of the columns the features read, sorted by chunk, user and time.

    The same rows and order as a stable ``sort_values`` on those three columns; numpy's
    ``lexsort`` on the integer arrays skips the per-column factorising pandas does first
    (a second per million rows), and only the needed columns are copied.
    """
    ts = events[TIMESTAMP_COL].to_numpy(dtype="int64")
    chunk, chunk_end = _chunks(ts, end, chunk_seconds)
    order = np.lexsort((ts, events[USER_COL].to_numpy(dtype="int64"), chunk))
    columns = {c: events[c].array.take(order) for c in _FEATURE_INPUTS if c in events.columns}
    columns[CHUNK_COL] = chunk[order]
    columns[CHUNK_END_COL] = chunk_end[order]
    return pd.DataFrame(columns, copy=False)


def run_starts(ev: pd.DataFrame) -> np.ndarray:
    """True on the first row of each (chunk, user) run of ``ev`` (sorted by chunk, user, time).

    Sorted that way, each user's events of a chunk are consecutive rows: group sizes, sums,
    last rows and previous events are array operations on these boundaries.
    """
    chunk = ev[CHUNK_COL].to_numpy(dtype="int64")
    users = ev[USER_COL].to_numpy(dtype="int64")
    starts = np.ones(len(ev), dtype=bool)
    starts[1:] = (chunk[1:] != chunk[:-1]) | (users[1:] != users[:-1])
    return starts


def run_bounds(ev: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The first and the last row of each (chunk, user) run of ``ev`` (see ``run_starts``)."""
    first = np.flatnonzero(run_starts(ev))
    last = np.r_[first[1:] - 1, len(ev) - 1] if len(first) else first
    return first, last


def window_features(
    events: pd.DataFrame,
    items: pd.DataFrame | None,
    end: int,
    first_seen: pd.Series,
    options: FeatureOptions,
    scorer: Scorer | None = None,
) -> WindowFeatures:
    """All feature tables of one window.

    Args:
        events: canonical events of the window (any order).
        items: canonical catalog (genres give the categories).
        end: the window's exclusive end (Unix s); chunks are cut back from it.
        first_seen: output of ``item_first_seen`` over all events of the check.
        options: chunk length, k and model-signal sampling.
        scorer: the champion (``item_ids`` + ``score``); None skips the model table.

    Returns:
        WindowFeatures: tables keyed as in ``FEATURE_KINDS`` and a window summary.
    """
    ev = chunked_in_order(events, end, options.chunk_seconds)
    genres = _item_genres(items)
    pairs = event_categories(ev[ITEM_COL].to_numpy(dtype="int64"), genres)
    tables = {
        "events": _event_table(ev, first_seen, options.chunk_seconds),
        "categories": _category_table(pairs),
        "users": _user_table(ev, pairs, max(genres["category"].nunique(), 2)),
        "items": _item_table(ev, first_seen, options.chunk_seconds),
    }
    summary = {
        "events": float(len(ev)),
        "users": float(ev[USER_COL].nunique()),
        "items": float(ev[ITEM_COL].nunique()),
        "chunks": float(ev[CHUNK_COL].nunique()),
        "mean_value": float(ev[VALUE_COL].mean()) if len(ev) else float("nan"),
        "new_item_share": float((tables["events"]["item_is_new"] == "new").mean()),
    }
    if scorer is not None:
        model_table = model_signal_table(ev, scorer, options)
        tables["model"] = model_table.drop(columns=["hit"])
        summary["relevance_hit_rate"] = (
            float(model_table["hit"].mean()) if len(model_table) else float("nan")
        )
        summary["relevance_cases"] = float(len(model_table))
    return WindowFeatures(tables=tables, summary=summary)


def _item_genres(items: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (item, category) from the catalog's ``|``-separated genres."""
    if items is None or GENRES_COL not in items or items.empty:
        return pd.DataFrame({ITEM_COL: pd.Series(dtype="int64"), "category": pd.Series(dtype=str)})
    split = items[[ITEM_COL]].assign(
        category=items[GENRES_COL].fillna("").astype(str).str.split(GENRE_SEPARATOR)
    )
    out = split.explode("category")
    out["category"] = out["category"].str.strip()
    out = out[out["category"] != ""]
    return out.drop_duplicates().reset_index(drop=True)


def _event_table(ev: pd.DataFrame, first_seen: pd.Series, chunk_seconds: int) -> pd.DataFrame:
    """Per-event features (rows in ``ev``'s order: sorted by chunk, user, time).

    The categorical columns are pandas categoricals here (codes, no Python string per
    row); ``as_plain_strings`` turns a (sampled) table back into the strings the tests
    and the report read.
    """
    chunk = ev[CHUNK_COL].to_numpy(dtype="int64")
    ts = ev[TIMESTAMP_COL].to_numpy(dtype="int64")
    hour, weekday = hour_and_weekday_codes(ts)
    # The gap to the user's previous event in the same chunk: the row before, within a run.
    follows = ~run_starts(ev)
    gap_hours = np.full(len(ev), np.nan)
    gap_hours[follows] = (ts - np.r_[0, ts[:-1]])[follows] / SECONDS_PER_HOUR
    is_new = _is_new(ev, first_seen, chunk_seconds)
    return pd.DataFrame(
        {
            "value": ev[VALUE_COL].astype("float64"),
            "event_type": _labels(ev[EVENT_TYPE_COL]),
            "hour": pd.Categorical.from_codes(hour, categories=HOUR_NAMES),
            "weekday": pd.Categorical.from_codes(weekday, categories=DAY_NAMES),
            "scenario": _labels(ev[SCENARIO_COL]),
            "item_pop_rank": np.log1p(_popularity_rank(chunk, ev[ITEM_COL])),
            "item_is_new": pd.Categorical.from_codes(
                is_new.astype("int8"), categories=IS_NEW_NAMES
            ),
            "user_gap_hours": np.log1p(gap_hours),
        }
    )


def _popularity_rank(chunk: np.ndarray, items: pd.Series) -> np.ndarray:
    """Each event's item's rank by event count within its chunk; ties share the best rank.

    What ``counts.groupby(chunk).rank(method="min", ascending=False)`` gives over the
    events' item counts: 1 + the events in the chunk whose item has a higher count,
    computed on the (chunk, item) table instead of on every event.
    """
    item_codes, item_uniques = pd.factorize(items.to_numpy(dtype="int64"))
    n_items = max(len(item_uniques), 1)
    first_chunk = int(chunk.min()) if len(chunk) else 0
    # One integer per (chunk, item): both are small non-negative codes here.
    codes, pair_keys = pd.factorize((chunk - first_chunk) * n_items + item_codes)
    counts = np.bincount(codes).astype("int64")
    pair_chunk = pair_keys // n_items
    # Per chunk, pairs by count descending; the events before a pair's first tie are above it.
    order = np.lexsort((-counts, pair_chunk))
    sorted_counts, sorted_chunk = counts[order], pair_chunk[order]
    before = np.cumsum(sorted_counts) - sorted_counts  # events of earlier pairs, all chunks
    new_chunk = np.r_[True, sorted_chunk[1:] != sorted_chunk[:-1]]
    chunk_start = np.maximum.accumulate(np.where(new_chunk, before, 0))
    new_tie = new_chunk | np.r_[True, sorted_counts[1:] != sorted_counts[:-1]]
    tie_start = np.maximum.accumulate(np.where(new_tie, before, 0))
    rank = np.empty(len(counts), dtype="float64")
    rank[order] = tie_start - chunk_start + 1
    return rank[codes]


def _labels(column: pd.Series) -> pd.Categorical:
    """A text column as a categorical of strings, missing values as "none"."""
    labels = column.astype("category")
    labels = labels.cat.rename_categories([str(c) for c in labels.cat.categories])
    if "none" not in labels.cat.categories:
        labels = labels.cat.add_categories("none")
    return labels.fillna("none").array


def as_plain_strings(table: pd.DataFrame) -> pd.DataFrame:
    """The table with its categorical columns as Python strings (object dtype).

    Feature tables keep categoricals while they are large; what is tested and reported
    (a sample of at most ``drift.max_rows`` rows) is read as plain strings, as Evidently's
    report and the summaries expect.
    """
    categorical = [c for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)]
    if not categorical:
        return table
    return table.astype({c: object for c in categorical})


HOUR_NAMES = np.array([str(h) for h in range(24)], dtype=object)
DAY_NAMES = np.array(
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"], dtype=object
)


def hour_and_weekday(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC hour ("0".."23") and English day name of Unix seconds, by integer arithmetic.

    What ``pd.to_datetime(..., unit="s", utc=True).dt.hour.astype(str)`` and
    ``.dt.day_name()`` give, without a datetime column and a string conversion per row
    (seconds per million events). Floor division keeps times before 1970 right; 1 Jan 1970
    was a Thursday.
    """
    hour, weekday = hour_and_weekday_codes(seconds)
    return HOUR_NAMES[hour], DAY_NAMES[weekday]


def hour_and_weekday_codes(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``HOUR_NAMES`` and ``DAY_NAMES`` of Unix seconds (see ``hour_and_weekday``)."""
    days = seconds // SECONDS_PER_DAY
    return (seconds // 3600) % 24, (days + 3) % 7


IS_NEW_NAMES = np.array(["old", "new"], dtype=object)


def _is_new(frame: pd.DataFrame, first_seen: pd.Series, chunk_seconds: int) -> np.ndarray:
    """True when the item was first seen within the chunk the row belongs to."""
    seen = frame[ITEM_COL].map(first_seen).to_numpy(dtype="float64")
    chunk_start = frame[CHUNK_END_COL].to_numpy(dtype="float64") - chunk_seconds
    return seen >= chunk_start


EventCategories = tuple[np.ndarray, np.ndarray, np.ndarray]  # see event_categories


def _category_table(pairs: EventCategories) -> pd.DataFrame:
    """One row per (event, category); events of uncatalogued items count as unknown."""
    _, codes, names = pairs
    return pd.DataFrame({"category": pd.Categorical.from_codes(codes, categories=names)})


def event_categories(items: np.ndarray, genres: pd.DataFrame) -> EventCategories:
    """Every (event, category of its item) pair, as integer positions.

    What a left merge of the events with ``genres`` on the item id gives (events in order,
    each item's categories in catalogue order, one unknown row for an item without any),
    without copying a category string per pair.

    Returns:
        tuple: the event's row for each pair, the pair's category code and the category
        names (sorted, ``UNKNOWN_CATEGORY`` among them) the codes index.
    """
    names = np.array(sorted({*genres["category"], UNKNOWN_CATEGORY}), dtype=object)
    genre_items = genres[ITEM_COL].to_numpy(dtype="int64")
    by_item = np.argsort(genre_items, kind="stable")  # keeps each item's catalogue order
    genre_codes = pd.Index(names).get_indexer(genres["category"].to_numpy(dtype=object))[by_item]
    catalogued, first, count = np.unique(
        genre_items[by_item], return_index=True, return_counts=True
    )
    unknown = int(np.searchsorted(names, UNKNOWN_CATEGORY))
    # A last slot for items without categories: no catalogue rows, the unknown code.
    position = pd.Index(catalogued).get_indexer(items)
    position[position < 0] = len(catalogued)
    count, first = np.r_[count, 0], np.r_[first, len(genre_codes)]
    genre_codes = np.r_[genre_codes, unknown]
    repeats = np.maximum(count[position], 1)
    rows = np.repeat(np.arange(len(items)), repeats)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    codes = genre_codes[first[position][rows] + within]
    return rows, codes.astype("int64"), names


def _user_table(ev: pd.DataFrame, pairs: EventCategories, n_categories: int) -> pd.DataFrame:
    """Per (user, chunk): activity, mean value, top category, diversity, recency.

    Rows in (chunk, user) order, one per run of ``run_starts``. The top category is the
    most frequent (ties: the first name in sorted order); the diversity is the entropy of
    the category shares over log(``n_categories``, the catalogue's, at least 2).
    """
    firsts, lasts = run_bounds(ev)
    n_groups = len(firsts)
    group = np.repeat(np.arange(n_groups), lasts - firsts + 1)
    activity = np.bincount(group, minlength=n_groups).astype("float64")
    mean_value = ev[VALUE_COL].astype("float64").groupby(group).mean().to_numpy()
    last_ts = ev[TIMESTAMP_COL].to_numpy(dtype="int64")[lasts]
    chunk_end = ev[CHUNK_END_COL].to_numpy(dtype="int64")[firsts]

    rows, codes, names = pairs
    pair_codes, pair_keys = pd.factorize(group[rows] * len(names) + codes)
    pair_n = np.bincount(pair_codes).astype("float64")
    pair_group, pair_category = pair_keys // len(names), pair_keys % len(names)
    best = np.lexsort((pair_category, -pair_n, pair_group))  # by group: most frequent first
    first_of_group = np.r_[True, pair_group[best][1:] != pair_group[best][:-1]]
    top = np.empty(n_groups, dtype="int64")
    top[pair_group[best][first_of_group]] = pair_category[best][first_of_group]
    share = pair_n / np.bincount(pair_group, weights=pair_n, minlength=n_groups)[pair_group]
    entropy = np.bincount(pair_group, weights=-share * np.log(share), minlength=n_groups)
    return pd.DataFrame(
        {
            "activity": np.log1p(activity),
            "mean_value": mean_value,
            "top_category": names[top],
            "category_diversity": entropy / np.log(n_categories),
            "recency_hours": np.log1p((chunk_end - last_ts) / SECONDS_PER_HOUR),
        }
    )


def _item_table(ev: pd.DataFrame, first_seen: pd.Series, chunk_seconds: int) -> pd.DataFrame:
    """Per (item, chunk): popularity (log count), mean value, newness."""
    grouped = ev.groupby([CHUNK_COL, ITEM_COL], sort=True)
    base = grouped.agg(
        n=(VALUE_COL, "size"), mean_value=(VALUE_COL, "mean"), _chunk_end=(CHUNK_END_COL, "first")
    ).reset_index()
    return pd.DataFrame(
        {
            "popularity": np.log1p(base["n"].to_numpy(dtype="float64")),
            "mean_value": base["mean_value"].to_numpy(dtype="float64"),
            "is_new": IS_NEW_NAMES[_is_new(base, first_seen, chunk_seconds).astype("int8")],
        }
    )


def next_item_cases(
    ev: pd.DataFrame, *, with_times: bool = False
) -> tuple[list[list[int]], np.ndarray] | tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Histories and next items: per (chunk, user) with >= 2 events, the last event is the target.

    Args:
        ev: events with a chunk column, sorted by chunk, user, time.

    Returns:
        tuple: histories (earlier item ids, oldest first) and the target item per case.
    """
    first, target = case_rows(ev)
    items = ev[ITEM_COL].to_numpy(dtype="int64")
    histories = [items[a:b].tolist() for a, b in zip(first, target, strict=True)]
    if with_times:  # when each next event happened: the moment the model is asked
        times = ev[TIMESTAMP_COL].to_numpy(dtype="float64")[target]
        return histories, items[target], times
    return histories, items[target]


def case_rows(ev: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each next-item case of ``ev`` (sorted by chunk, user, time): the first row of
    the (chunk, user) run and its last row (the target), for runs of at least two events."""
    first, last = run_bounds(ev)
    several = last > first
    return first[several], last[several]


def model_signal_table(ev: pd.DataFrame, scorer: Scorer, options: FeatureOptions) -> pd.DataFrame:
    """The champion's view of the window: score distribution and next-item rank per case.

    Seen items are masked before ranking (``Recommender.score`` does not mask them).
    Cases whose target is not in the scorer's catalog are left out; of the rest, at most
    ``options.max_model_users`` are drawn (seeded) before any history is built.

    Returns:
        pd.DataFrame: ``score_top`` (best score), ``score_next`` (score of the real next
        item), ``next_rank_pct`` (its rank / catalog size, 0 = top) and ``hit`` (in top k).
    """
    first, target = case_rows(ev)
    items = ev[ITEM_COL].to_numpy(dtype="int64")
    times = ev[TIMESTAMP_COL].to_numpy(dtype="float64")
    item_ids = np.asarray(scorer.item_ids)
    position = pd.Series(np.arange(len(item_ids)), index=item_ids)
    target_pos = position.reindex(items[target]).to_numpy()
    keep = np.flatnonzero(~np.isnan(target_pos))
    if len(keep) > options.max_model_users:
        keep = np.sort(
            np.random.default_rng(options.seed).choice(keep, options.max_model_users, replace=False)
        )
    rows = [
        _score_cases(
            [items[first[i] : target[i]].tolist() for i in batch],
            target_pos[batch].astype(int),
            times[target[batch]],
            scorer,
            position,
            options.k,
        )
        for batch in np.array_split(keep, max(1, int(np.ceil(len(keep) / 512))))
        if len(batch)
    ]
    columns = ["score_top", "score_next", "next_rank_pct", "hit"]
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=columns, dtype="float64")
    )


def _score_cases(
    histories: list[list[int]],
    targets: np.ndarray,
    times: np.ndarray,
    scorer: Scorer,
    position: pd.Series,
    k: int,
) -> pd.DataFrame:
    """Score one batch of cases (each at its event's time) and rank each target among
    unseen items."""
    scores = np.array(scorer.score(histories, times=times), dtype="float64", copy=True)
    lengths = np.fromiter((len(h) for h in histories), dtype=int, count=len(histories))
    flat = position.reindex(
        np.concatenate([np.asarray(h, dtype="int64") for h in histories])
    ).to_numpy()
    row = np.repeat(np.arange(len(histories)), lengths)
    known = ~np.isnan(flat)
    scores[row[known], flat[known].astype(int)] = -np.inf
    target_score = scores[np.arange(len(targets)), targets]
    rank = (scores > target_score[:, None]).sum(axis=1)
    repeat = ~np.isfinite(target_score)  # the next item is already in the history
    scores, target_score, rank = scores[~repeat], target_score[~repeat], rank[~repeat]
    return pd.DataFrame(
        {
            "score_top": scores.max(axis=1),
            "score_next": target_score,
            "next_rank_pct": rank / scores.shape[1],
            "hit": (rank < k).astype("float64"),
        }
    )
