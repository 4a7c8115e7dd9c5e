"""Training popularity of items: what average popularity, tail share and novelty read.

Counted from the events a model could learn from (for leave-one-out: the training part
only, as RecBole's ``data.count_items``), never from the held-out events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recloop.columns import ITEM_COL, USER_COL
from recloop.evaluation.protocols import EvalCases


@dataclass(frozen=True)
class Popularity:
    """Training popularity of items, for average popularity, tail share and novelty.

    Attributes:
        item_ids: sorted item ids.
        counts: training events per item (RecBole's ``data.count_items``).
        user_counts: distinct training users per item.
        n_users: distinct training users.
    """

    item_ids: np.ndarray
    counts: np.ndarray
    user_counts: np.ndarray
    n_users: int

    @classmethod
    def from_events(cls, events: pd.DataFrame) -> Popularity:
        """Count the training events (e.g. ``LooSplit.train``) per item."""
        counts = events[ITEM_COL].value_counts().sort_index()
        users = events.drop_duplicates([USER_COL, ITEM_COL])[ITEM_COL].value_counts()
        return cls(
            item_ids=counts.index.to_numpy(dtype=np.int64),
            counts=counts.to_numpy(dtype=np.int64),
            user_counts=users.reindex(counts.index, fill_value=0).to_numpy(dtype=np.int64),
            n_users=int(events[USER_COL].nunique()),
        )

    @classmethod
    def from_histories(cls, cases: EvalCases) -> Popularity:
        """Fallback when no training events are given: distinct (user, item) pairs seen."""
        pairs = pd.DataFrame(
            {
                USER_COL: np.repeat(cases.user_ids, [len(h) for h in cases.histories]),
                ITEM_COL: np.concatenate([np.asarray(h, dtype=np.int64) for h in cases.histories])
                if len(cases)
                else np.zeros(0, dtype=np.int64),
            }
        ).drop_duplicates()
        return cls.from_events(pairs)

    def aligned(self, catalog_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(counts, user_counts) for ``catalog_ids`` (0 for items never seen)."""
        counts = pd.Series(self.counts, index=self.item_ids).reindex(catalog_ids, fill_value=0)
        users = pd.Series(self.user_counts, index=self.item_ids).reindex(catalog_ids, fill_value=0)
        return counts.to_numpy(), users.to_numpy()
