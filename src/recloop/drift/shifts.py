"""Injected behaviour shifts on real windows, to measure that drift detection catches them.

Each function takes a window of canonical events (and the catalog) and returns a changed
copy; the benchmark and the tests apply them to real MovieLens weeks. Magnitudes are
moderate on purpose (a third of the traffic or less changes): the point is to check the
detector, not to make its job trivial.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from recloop.columns import (
    FIRST_SEEN_COL,
    GENRE_SEPARATOR,
    GENRES_COL,
    ITEM_COL,
    TIMESTAMP_COL,
    TITLE_COL,
    USER_COL,
    VALUE_COL,
)

Shift = Callable[
    [pd.DataFrame, pd.DataFrame, np.random.Generator], tuple[pd.DataFrame, pd.DataFrame]
]


def category_mix_shift(
    events: pd.DataFrame, items: pd.DataFrame, rng: np.random.Generator, fraction: float = 0.3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A share of events moves to items of one minority category (the one least watched)."""
    genres = items[[ITEM_COL]].assign(g=items[GENRES_COL].str.split(GENRE_SEPARATOR)).explode("g")
    watched = events[[ITEM_COL]].merge(genres, on=ITEM_COL)["g"].value_counts()
    sizable = genres["g"].value_counts()
    candidates = watched[watched.index.isin(sizable[sizable >= 50].index)]
    target = candidates.idxmin()
    pool = genres.loc[genres["g"] == target, ITEM_COL].unique()
    return _reroute(events, rng, fraction, pool), items


def rating_inflation(
    events: pd.DataFrame, items: pd.DataFrame, rng: np.random.Generator, fraction: float = 0.4
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A share of ratings gets one star more (capped at the maximum seen)."""
    out = events.copy()
    chosen = rng.random(len(out)) < fraction
    top = out[VALUE_COL].max()
    out.loc[chosen, VALUE_COL] = np.minimum(out.loc[chosen, VALUE_COL] + 1.0, top)
    return out, items


def popularity_collapse(
    events: pd.DataFrame,
    items: pd.DataFrame,
    rng: np.random.Generator,
    fraction: float = 0.3,
    n_items: int = 5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A share of events collapses onto the window's few most popular items."""
    top = events[ITEM_COL].value_counts().index[:n_items].to_numpy()
    return _reroute(events, rng, fraction, top), items


def new_item_flood(
    events: pd.DataFrame,
    items: pd.DataFrame,
    rng: np.random.Generator,
    fraction: float = 0.2,
    n_new: int = 50,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New items enter the catalog at the window's start and take a share of the events."""
    start = int(events[TIMESTAMP_COL].min())
    new_ids = np.arange(int(items[ITEM_COL].max()) + 1, int(items[ITEM_COL].max()) + 1 + n_new)
    donors = items.sample(n=n_new, random_state=int(rng.integers(1 << 31)))
    new_items = pd.DataFrame(
        {
            ITEM_COL: new_ids,
            TITLE_COL: [f"New release {i}" for i in new_ids],
            "year": None,
            GENRES_COL: donors[GENRES_COL].to_numpy(),  # same category mix as the catalog
            FIRST_SEEN_COL: start,
        }
    )
    catalog = pd.concat([items, new_items], ignore_index=True)
    catalog[FIRST_SEEN_COL] = pd.array(catalog[FIRST_SEEN_COL], dtype="Int64")
    return _reroute(events, rng, fraction, new_ids), catalog


def bot_users(
    events: pd.DataFrame,
    items: pd.DataFrame,
    rng: np.random.Generator,
    n_bots: int = 10,
    events_per_bot: int = 150,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bots: new accounts rating many random catalog items 5 stars within minutes."""
    start, end = int(events[TIMESTAMP_COL].min()), int(events[TIMESTAMP_COL].max())
    first_bot = int(events[USER_COL].max()) + 1_000_000
    n = n_bots * events_per_bot
    bot_ids = np.repeat(np.arange(first_bot, first_bot + n_bots), events_per_bot)
    bot_start = np.repeat(rng.integers(start, max(start + 1, end - 3600), n_bots), events_per_bot)
    template = events.iloc[np.zeros(n, dtype=int)].reset_index(drop=True)
    bots = template.assign(
        **{
            USER_COL: bot_ids,
            ITEM_COL: rng.choice(items[ITEM_COL].to_numpy(), n),
            VALUE_COL: float(events[VALUE_COL].max()),
            TIMESTAMP_COL: bot_start + np.tile(np.arange(events_per_bot) * 10, n_bots),
        }
    )
    out = pd.concat([events, bots], ignore_index=True)
    return out.sort_values(TIMESTAMP_COL, kind="stable").reset_index(drop=True), items


def _reroute(
    events: pd.DataFrame, rng: np.random.Generator, fraction: float, pool: np.ndarray
) -> pd.DataFrame:
    """Replace the item of a random ``fraction`` of events with one drawn from ``pool``."""
    out = events.copy()
    chosen = rng.random(len(out)) < fraction
    out.loc[chosen, ITEM_COL] = rng.choice(np.asarray(pool), int(chosen.sum()))
    return out


SHIFTS: dict[str, Shift] = {
    "category_mix": category_mix_shift,
    "rating_inflation": rating_inflation,
    "popularity_collapse": popularity_collapse,
    "new_item_flood": new_item_flood,
    "bot_users": bot_users,
}
