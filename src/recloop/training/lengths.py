"""How many recent events the user tower reads, when the settings leave it to the data.

A fixed default fits no one: MovieLens users rate hundreds of films, a shop's users buy a
handful of products. Reading far more positions than users have wastes attention on padding
(and memory on every window); reading far fewer throws away the history that makes a
sequence model worth having. The rule: the length that covers the whole history of
``COVERED_USERS`` of the users (their event counts' quantile), rounded up to a multiple of
``STEP``, within ``[FLOOR, CAP]``. The cap is the field's usual 200 (SASRec on MovieLens-1M);
beyond it attention's quadratic cost buys little. An incremental run keeps its parent's length
(the network's shape), so the rule applies when a model is first trained.
"""

from __future__ import annotations

import math

import numpy as np

COVERED_USERS = 0.95
STEP = 10
FLOOR = 20
CAP = 200


def derived_max_len(sequence_lengths: np.ndarray) -> int:
    """The user tower's length for users with these event counts (see the module docstring).

    >>> derived_max_len(np.array([3, 5, 6, 8, 14]))
    20
    >>> derived_max_len(np.arange(1, 1001))
    200
    """
    if len(sequence_lengths) == 0:
        return FLOOR
    lengths = np.asarray(sequence_lengths, dtype=np.float64)
    covered = float(np.quantile(lengths, COVERED_USERS, method="higher"))  # a real user's
    return int(min(CAP, max(FLOOR, STEP * math.ceil(covered / STEP))))
