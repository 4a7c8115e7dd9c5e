"""The vectorised feature tables equal pandas' direct definitions, row for row.

``recloop.drift.features`` computes popularity ranks, gaps, categories and per-user
statistics with array operations on events sorted by chunk, user and time. The reference
implementations below are the direct pandas formulations (groupby, rank, left merge with the
catalogue's categories) the tables were first written with; Hypothesis draws small logs with
ties in time, repeated items, uncatalogued items and items with several categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.drift.detect import _sample
from recloop.drift.features import (
    CHUNK_COL,
    CHUNK_END_COL,
    UNKNOWN_CATEGORY,
    FeatureOptions,
    as_plain_strings,
    assign_chunks,
    item_first_seen,
    window_features,
)

DAY = 86_400
GENRES = ["Action", "Comedy", "Drama", "(no genres listed)", "Zebra"]


def _direct_event_columns(ev: pd.DataFrame) -> pd.DataFrame:
    counts = ev.groupby([CHUNK_COL, "item_id"])["item_id"].transform("size")
    rank = counts.groupby(ev[CHUNK_COL]).rank(method="min", ascending=False)
    previous = ev.groupby([CHUNK_COL, "user_id"])["timestamp"].shift(1)
    return pd.DataFrame(
        {
            "event_type": ev["event_type"].fillna("none").astype(str),
            "scenario": ev["scenario"].fillna("none").astype(str),
            "item_pop_rank": np.log1p(rank.to_numpy(dtype="float64")),
            "user_gap_hours": np.log1p(((ev["timestamp"] - previous) / 3600).to_numpy(float)),
        }
    )


def _direct_genres(items: pd.DataFrame) -> pd.DataFrame:
    split = items[["item_id"]].assign(category=items["genres"].fillna("").str.split("|"))
    out = split.explode("category")
    out["category"] = out["category"].str.strip()
    return out[out["category"] != ""].drop_duplicates().reset_index(drop=True)


def _direct_user_table(ev: pd.DataFrame, genres: pd.DataFrame) -> pd.DataFrame:
    keys = [CHUNK_COL, "user_id"]
    base = ev.groupby(keys, sort=True).agg(
        activity=("item_id", "size"),
        mean_value=("value", "mean"),
        last_ts=("timestamp", "max"),
        chunk_end=(CHUNK_END_COL, "first"),
    )
    cats = ev[[*keys, "item_id"]].merge(genres, on="item_id", how="left")
    cats["category"] = cats["category"].fillna(UNKNOWN_CATEGORY)
    per_cat = cats.groupby([*keys, "category"]).size().rename("n").reset_index()
    per_cat = per_cat.sort_values([*keys, "n", "category"], ascending=[True, True, False, True])
    top = per_cat.drop_duplicates(keys).set_index(keys)["category"]
    share = per_cat["n"] / per_cat.groupby(keys)["n"].transform("sum")
    entropy = (-share * np.log(share)).groupby([per_cat[k] for k in keys]).sum()
    return pd.DataFrame(
        {
            "activity": np.log1p(base["activity"].to_numpy(dtype="float64")),
            "mean_value": base["mean_value"].to_numpy(dtype="float64"),
            "top_category": top.reindex(base.index).to_numpy(),
            "category_diversity": (
                entropy.reindex(base.index) / np.log(max(genres["category"].nunique(), 2))
            ).to_numpy(),
            "recency_hours": np.log1p((base["chunk_end"] - base["last_ts"]) / 3600).to_numpy(),
        }
    )


events_strategy = st.lists(
    st.tuples(
        st.integers(1, 6),  # user
        st.integers(1, 9),  # item (8 and 9 are not in the catalogue)
        st.integers(0, 20 * DAY),  # time
        st.sampled_from(["click", "rating", None]),
        st.sampled_from([None, "home", "search"]),
        st.sampled_from([1.0, 2.5, 4.0, float("nan")]),
    ),
    min_size=1,
    max_size=60,
)
catalogue_strategy = st.lists(
    st.lists(st.sampled_from(GENRES), max_size=3).map("|".join), min_size=7, max_size=7
)


@settings(max_examples=60, deadline=None)
@given(events_strategy, catalogue_strategy)
def test_tables_equal_the_direct_pandas_definitions(rows, genre_strings):
    events = pd.DataFrame(
        rows, columns=["user_id", "item_id", "timestamp", "event_type", "scenario", "value"]
    )
    items = pd.DataFrame({"item_id": range(1, 8), "genres": genre_strings})
    end = int(events["timestamp"].max()) + 1
    first_seen = item_first_seen(events, items, 7 * DAY)
    feats = window_features(events, items, end, first_seen, FeatureOptions(7 * DAY))

    ev = assign_chunks(events, end, 7 * DAY)
    ev = ev.sort_values([CHUNK_COL, "user_id", "timestamp"], kind="stable").reset_index(drop=True)
    genres = _direct_genres(items)
    plain = as_plain_strings(feats.tables["events"])
    direct = _direct_event_columns(ev)
    for column in direct.columns:
        pd.testing.assert_series_equal(plain[column], direct[column], check_names=False)
    categories = ev[["item_id"]].merge(genres, on="item_id", how="left")["category"]
    assert list(as_plain_strings(feats.tables["categories"])["category"]) == list(
        categories.fillna(UNKNOWN_CATEGORY)
    )
    pd.testing.assert_frame_equal(
        feats.tables["users"], _direct_user_table(ev, genres), check_exact=False, rtol=1e-12
    )


def test_a_sampled_table_reads_as_plain_strings(movielens):
    events = movielens.events
    end = int(events["timestamp"].max()) + 1
    first_seen = item_first_seen(events, movielens.items, 7 * DAY)
    feats = window_features(events, movielens.items, end, first_seen, FeatureOptions(7 * DAY))
    sample = as_plain_strings(_sample(feats.tables["events"], 5_000, seed=0))
    assert len(sample) == 5_000
    for column in ("event_type", "hour", "weekday", "scenario", "item_is_new"):
        assert sample[column].dtype == object
        assert all(isinstance(v, str) for v in sample[column])
    assert set(sample["item_is_new"]) <= {"new", "old"}
