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
    ts = events[TIMESTAMP_COL].to_numpy(dtype="int64")
    chunk = (int(end) - 1 - ts) // int(chunk_seconds)
    out = events.copy()
    out[CHUNK_COL] = chunk
    out[CHUNK_END_COL] = int(end) - chunk * int(chunk_seconds)
    return out


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
    ev = assign_chunks(events, end, options.chunk_seconds)
    ev = ev.sort_values([CHUNK_COL, USER_COL, TIMESTAMP_COL], kind="stable").reset_index(drop=True)
    genres = _item_genres(items)
    tables = {
        "events": _event_table(ev, first_seen, options.chunk_seconds),
        "categories": _category_table(ev, genres),
        "users": _user_table(ev, genres),
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
    """Per-event features (rows in ``ev``'s order)."""
    hour, weekday = hour_and_weekday(ev[TIMESTAMP_COL].to_numpy(dtype="int64"))
    counts = ev.groupby([CHUNK_COL, ITEM_COL])[ITEM_COL].transform("size")
    # Rank 1 = the chunk's most popular item; ties share the best rank.
    rank = counts.groupby(ev[CHUNK_COL]).rank(method="min", ascending=False)
    previous = ev.groupby([CHUNK_COL, USER_COL])[TIMESTAMP_COL].shift(1)
    gap_hours = (ev[TIMESTAMP_COL] - previous) / SECONDS_PER_HOUR
    return pd.DataFrame(
        {
            "value": ev[VALUE_COL].astype("float64"),
            "event_type": ev[EVENT_TYPE_COL].fillna("none").astype(str),
            "hour": hour,
            "weekday": weekday,
            "scenario": ev[SCENARIO_COL].fillna("none").astype(str),
            "item_pop_rank": np.log1p(rank.to_numpy(dtype="float64")),
            "item_is_new": _is_new(ev, first_seen, chunk_seconds),
            "user_gap_hours": np.log1p(gap_hours.to_numpy(dtype="float64")),
        }
    )


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
    days = seconds // SECONDS_PER_DAY
    return HOUR_NAMES[(seconds // 3600) % 24], DAY_NAMES[(days + 3) % 7]


def _is_new(frame: pd.DataFrame, first_seen: pd.Series, chunk_seconds: int) -> np.ndarray:
    """ "new" when the item was first seen within the chunk the row belongs to."""
    seen = frame[ITEM_COL].map(first_seen).to_numpy(dtype="float64")
    chunk_start = frame[CHUNK_END_COL].to_numpy(dtype="float64") - chunk_seconds
    return np.where(seen >= chunk_start, "new", "old")


def _category_table(ev: pd.DataFrame, genres: pd.DataFrame) -> pd.DataFrame:
    """One row per (event, category); events of uncatalogued items count as unknown."""
    joined = ev[[ITEM_COL]].merge(genres, on=ITEM_COL, how="left")
    return pd.DataFrame({"category": joined["category"].fillna(UNKNOWN_CATEGORY).to_numpy()})


def _user_table(ev: pd.DataFrame, genres: pd.DataFrame) -> pd.DataFrame:
    """Per (user, chunk): activity, mean value, top category, diversity, recency."""
    keys = [CHUNK_COL, USER_COL]
    grouped = ev.groupby(keys, sort=True)
    base = grouped.agg(
        activity=(ITEM_COL, "size"),
        mean_value=(VALUE_COL, "mean"),
        last_ts=(TIMESTAMP_COL, "max"),
        chunk_end=(CHUNK_END_COL, "first"),
    )
    cats = ev[[*keys, ITEM_COL]].merge(genres, on=ITEM_COL, how="left")
    cats["category"] = cats["category"].fillna(UNKNOWN_CATEGORY)
    per_cat = cats.groupby([*keys, "category"]).size().rename("n").reset_index()
    per_cat = per_cat.sort_values([*keys, "n", "category"], ascending=[True, True, False, True])
    top = per_cat.drop_duplicates(keys).set_index(keys)["category"]
    share = per_cat["n"] / per_cat.groupby(keys)["n"].transform("sum")
    entropy = (-share * np.log(share)).groupby([per_cat[k] for k in keys]).sum()
    n_categories = max(genres["category"].nunique(), 2)
    return pd.DataFrame(
        {
            "activity": np.log1p(base["activity"].to_numpy(dtype="float64")),
            "mean_value": base["mean_value"].to_numpy(dtype="float64"),
            "top_category": top.reindex(base.index).fillna(UNKNOWN_CATEGORY).to_numpy(),
            "category_diversity": (entropy.reindex(base.index) / np.log(n_categories)).to_numpy(),
            "recency_hours": np.log1p(
                (base["chunk_end"] - base["last_ts"]) / SECONDS_PER_HOUR
            ).to_numpy(),
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
            "is_new": _is_new(base, first_seen, chunk_seconds),
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
    keys = [ev[CHUNK_COL], ev[USER_COL]]
    position = ev.groupby(keys).cumcount().to_numpy()
    size = ev.groupby(keys)[ITEM_COL].transform("size").to_numpy()
    is_target = (position == size - 1) & (size >= 2)
    history_rows = ev.loc[position < size - 1]
    history_keys = [history_rows[CHUNK_COL], history_rows[USER_COL]]
    histories = history_rows.groupby(history_keys, sort=True)[ITEM_COL].agg(list)
    targets = ev.loc[is_target].set_index([CHUNK_COL, USER_COL])[ITEM_COL]
    histories = histories.reindex(targets.index)
    cases = [list(map(int, h)) for h in histories], targets.to_numpy(dtype="int64")
    if with_times:  # when each next event happened: the moment the model is asked
        return (*cases, ev.loc[is_target, TIMESTAMP_COL].to_numpy(dtype="float64"))
    return cases


def model_signal_table(ev: pd.DataFrame, scorer: Scorer, options: FeatureOptions) -> pd.DataFrame:
    """The champion's view of the window: score distribution and next-item rank per case.

    Seen items are masked before ranking (``Recommender.score`` does not mask them).
    Cases whose target is not in the scorer's catalog are left out.

    Returns:
        pd.DataFrame: ``score_top`` (best score), ``score_next`` (score of the real next
        item), ``next_rank_pct`` (its rank / catalog size, 0 = top) and ``hit`` (in top k).
    """
    histories, targets, times = next_item_cases(ev, with_times=True)
    item_ids = np.asarray(scorer.item_ids)
    position = pd.Series(np.arange(len(item_ids)), index=item_ids)
    target_pos = position.reindex(targets).to_numpy()
    keep = np.flatnonzero(~np.isnan(target_pos))
    if len(keep) > options.max_model_users:
        keep = np.sort(
            np.random.default_rng(options.seed).choice(keep, options.max_model_users, replace=False)
        )
    rows = [
        _score_cases(
            [histories[i] for i in batch],
            target_pos[batch].astype(int),
            times[batch],
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
