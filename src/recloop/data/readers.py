"""Readers that turn source files into recloop's canonical DataFrames (see ``columns``).

This module only parses; it never drops or fixes rows. Validation decides what is bad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recloop.columns import (
    EVENT_TYPE_COL,
    FIRST_SEEN_COL,
    ITEM_COL,
    SCENARIO_COL,
    SESSION_COL,
    TIMESTAMP_COL,
    USER_COL,
    VALUE_COL,
)


@dataclass
class Dataset:
    """A dataset in canonical form; ``items``/``users`` may be absent."""

    events: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None


def read_movielens_canonical(directory: str | Path) -> Dataset:
    """Read the canonical CSV form of MovieLens (``interactions.csv``, ``items.csv``, ``users.csv``).

    Args:
        directory: folder such as ``../shared/datasets/movielens-100k``.

    Returns:
        Dataset: events in file order (ratings as ``event_type="rating"``), items with
        ``year`` kept as text (item 267 really says "unkonwn"), users.
    """
    directory = Path(directory)
    raw = pd.read_csv(directory / "interactions.csv")
    events = pd.DataFrame(
        {
            USER_COL: raw["user_id"].astype("int64"),
            ITEM_COL: raw["item_id"].astype("int64"),
            EVENT_TYPE_COL: "rating",
            VALUE_COL: raw["rating"].astype("float64"),
            TIMESTAMP_COL: raw["timestamp"].astype("int64"),
            SCENARIO_COL: None,
            SESSION_COL: None,
        }
    )
    items = pd.read_csv(directory / "items.csv", dtype={"year": "string", "title": "string"})
    items["genres"] = items["genres"].fillna("")
    items[FIRST_SEEN_COL] = pd.array([None] * len(items), dtype="Int64")
    users = None
    if (directory / "users.csv").exists():
        users = pd.read_csv(directory / "users.csv", dtype={"zip_code": "string"})
    return Dataset(events=events, items=items, users=users)
