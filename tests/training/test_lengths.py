"""The user tower's length when the data decides it (``train.max_len`` unset)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from recloop.training.lengths import CAP, COVERED_USERS, FLOOR, STEP, derived_max_len


@given(st.lists(st.integers(1, 5_000), min_size=1, max_size=300))
def test_the_length_covers_most_users_within_bounds(lengths):
    got = derived_max_len(np.array(lengths))
    assert FLOOR <= got <= CAP and got % STEP == 0
    covered = np.mean(np.array(lengths) <= got)
    assert covered >= COVERED_USERS or got == CAP  # only the cap leaves more users cut
    assert got - STEP < max(FLOOR, np.quantile(lengths, COVERED_USERS, method="higher"))


def test_the_shared_datasets_get_lengths_their_users_need():
    """Short shop sessions and long film histories get different lengths from one rule."""
    base = "../shared/datasets"
    got = {
        name: derived_max_len(
            pd.read_csv(f"{base}/{name}/interactions.csv", usecols=["user_id"])
            .groupby("user_id")
            .size()
            .to_numpy()
        )
        for name in ("movielens-100k", "amazon-beauty")
    }
    assert got == {"movielens-100k": 200, "amazon-beauty": 30}
