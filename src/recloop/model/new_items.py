"""New arrivals: items the model never saw in training that have only just appeared.

A new item has no id embedding yet, so it is scored from its text alone, and every item
that people have been watching for a while carries a learned id part on top: in a plain
ranking new items almost never reach the top K (on MovieLens next-week tests, none of
them did). Yet new releases are exactly what many users pick next. Serving therefore adds
a bonus ``boost`` to the score of each new arrival, where a new arrival is an item

* not seen in training, and
* born at most ``max_age_days`` before the request (born: the catalog's ``first_seen``,
  else mid-year of its release ``year``). In a catalog that gives no dates at all, every
  unseen item counts as new (there is no other way to tell); where the catalog dates its
  items, an undated one does not (it is more likely a stub than a release).

The bonus is chosen per model on its validation cases (``training.calibration``) within
an explicit budget: the largest one that costs at most a set share of validation NDCG@10.
Times are days since the Unix epoch (float32 is plenty).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from recloop.columns import FIRST_SEEN_COL, YEAR_COL

SECONDS_PER_DAY = 86_400.0
# A catalog that gives only a release year: the item is taken to be born mid-year.
_MID_YEAR_DAYS = 181.0


@dataclass
class NewItemBoost:
    """The bonus new arrivals get, stored in the model's config."""

    boost: float = 0.0
    max_age_days: float = 365.0
    # validation NDCG@10 per candidate bonus, when it was calibrated
    validation_ndcg: dict[str, float] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> NewItemBoost:
        data = data or {}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def item_birth_days(items: pd.DataFrame) -> np.ndarray:
    """When each catalog row was born, in days since the epoch (NaN: unknown).

    The catalog's ``first_seen`` (Unix seconds) when it has one; else the release
    ``year`` (July 1st of it); else unknown.
    """
    birth = np.full(len(items), np.nan, dtype=np.float64)
    if YEAR_COL in items.columns:
        years = pd.to_numeric(items[YEAR_COL], errors="coerce").to_numpy(dtype=np.float64)
        valid = (years >= 1) & (years <= 9999)
        whole = np.where(valid, years, 1970).astype(np.int64) - 1970
        days = whole.astype("datetime64[Y]").astype("datetime64[D]").astype(np.float64)
        birth = np.where(valid, days + _MID_YEAR_DAYS, birth)
    if FIRST_SEEN_COL in items.columns:
        first = pd.to_numeric(items[FIRST_SEEN_COL], errors="coerce").to_numpy(dtype=np.float64)
        birth = np.where(np.isfinite(first), first / SECONDS_PER_DAY, birth)
    return birth.astype(np.float32)


def to_days(timestamps: np.ndarray | list | None, n: int) -> np.ndarray:
    """Unix seconds -> days since the epoch, ``n`` of them; None or NaN means now."""
    now = time.time() / SECONDS_PER_DAY
    if timestamps is None:
        return np.full(n, now, dtype=np.float32)
    days = np.asarray(timestamps, dtype=np.float64) / SECONDS_PER_DAY
    return np.where(np.isfinite(days), days, now).astype(np.float32)


def new_arrivals(
    unseen: np.ndarray, birth: np.ndarray, days: np.ndarray, max_age_days: float
) -> np.ndarray:
    """(n_requests, n_items) bool: which items are new arrivals at each request time.

    Args:
        unseen: ``(n_items,)`` item had no training event.
        birth: ``(n_items,)`` days since the epoch, NaN unknown (``item_birth_days``).
        days: ``(n_requests,)`` request times in days since the epoch (``to_days``).
        max_age_days: oldest birth, relative to the request, that still counts as new.
    """
    undated = np.isnan(birth)
    if undated.all():
        return np.broadcast_to(unseen[None, :], (len(days), len(unseen))).copy()
    with np.errstate(invalid="ignore"):
        young = (days[:, None] - birth[None, :]) <= max_age_days
    return unseen[None, :] & young & ~undated[None, :]
