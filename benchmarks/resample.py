"""MovieLens-1M grown to any number of events, for benchmarks that measure growth.

``grown_log`` copies whole users under new ids (each copy's timestamps jittered by up to a
day and a tenth of its events dropped, so users differ). With ``new_item_share`` > 0 each
copy also moves that share of the catalogue to new item ids (a "new edition" row in the
catalogue, same genres), so the catalogue grows with the log as a real one does.
``uniform_time`` re-times a log to a steady rate of events per day (user order kept).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("RECLOOP_DATA_DIR", REPO.parent / "shared" / "datasets"))
DATASETS = {"beauty": "amazon-beauty", "ml-1m": "movielens-1m", "ml-100k": "movielens-100k"}
DAY = 86_400


def read_dataset(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical events and items from a shared data set's CSVs (implicit: value 1.0)."""
    folder = DATA_DIR / DATASETS[name]
    raw = pd.read_csv(folder / "interactions.csv")
    events = pd.DataFrame(
        {
            "user_id": raw["user_id"].astype("int64"),
            "item_id": raw["item_id"].astype("int64"),
            "event_type": raw.get("event_type", "interaction"),
            "value": (raw["rating"] if "rating" in raw else raw.get("value", 1.0)),
            "timestamp": raw["timestamp"].astype("int64"),
        }
    )
    events["value"] = pd.to_numeric(events["value"]).astype("float64")
    items = pd.read_csv(folder / "items.csv", dtype={"title": "string"})
    if "year" in items:
        items["year"] = items["year"].astype("string")
    return events, items


def grown_log(
    n_events: int, new_item_share: float = 0.0, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MovieLens-1M grown to about ``n_events`` (cut at a user boundary) and its catalogue."""
    base, items = read_dataset("ml-1m")
    rng = np.random.default_rng(seed)
    user_offset = int(base["user_id"].max()) + 1
    item_offset = int(items["item_id"].max()) + 1
    parts, catalog, total, copy = [], [items], 0, 0
    while total < n_events:
        part = base if copy == 0 else base[rng.random(len(base)) >= 0.1]
        part = part.assign(user_id=part["user_id"] + copy * user_offset)
        if copy:
            part = part.assign(timestamp=part["timestamp"] + rng.integers(0, DAY, len(part)))
            if new_item_share > 0:
                moved = items["item_id"].to_numpy()[rng.random(len(items)) < new_item_share]
                hit = part["item_id"].isin(moved).to_numpy()
                ids = part["item_id"].to_numpy().copy()
                ids[hit] += copy * item_offset
                part = part.assign(item_id=ids)
                edition = items[items["item_id"].isin(moved)].copy()
                edition["item_id"] += copy * item_offset
                edition["title"] = edition["title"] + f" (edition {copy + 1})"
                catalog.append(edition)
        parts.append(part)
        total += len(part)
        copy += 1
    events = pd.concat(parts, ignore_index=True)
    first_row = ~events["user_id"].duplicated()
    cut_users = events.loc[first_row & (np.arange(len(events)) >= n_events), "user_id"]
    if len(cut_users):
        events = events[events["user_id"] < int(cut_users.iloc[0])].reset_index(drop=True)
    catalog = pd.concat(catalog, ignore_index=True)
    return events, catalog[catalog["item_id"].isin(events["item_id"])].reset_index(drop=True)


def uniform_time(events: pd.DataFrame, per_day: int, start: int = 1_700_000_000) -> pd.DataFrame:
    """The log re-timed to ``per_day`` events a day in its time order (each user's kept).

    It starts at ``start`` (November 2023) unless it would then run past today: ingest
    quarantines events from the future, so a long log (20M events at 13,700 a day span
    four years) is moved back to end two days ago.
    """
    span = (len(events) * DAY) // per_day
    start = min(start, int(time.time()) - span - 2 * DAY)
    order = np.argsort(events["timestamp"].to_numpy(), kind="stable")
    out = events.iloc[order].reset_index(drop=True)
    out["timestamp"] = start + (np.arange(len(out), dtype=np.int64) * DAY) // per_day
    return out
