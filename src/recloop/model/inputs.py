"""The network's input: histories of item indices as one left-padded matrix.

Shared by training (``recloop.training``) and serving (``recloop.serving.recommender``), so
both feed the network exactly the same way; numpy only, no torch.
"""

from __future__ import annotations

import numpy as np


def left_pad(histories: list[np.ndarray], max_len: int) -> np.ndarray:
    """Right-align the last ``max_len`` indices of each history into a 0-padded matrix."""
    width = max(1, min(max_len, max((len(h) for h in histories), default=1)))
    out = np.zeros((len(histories), width), dtype=np.int64)
    for row, hist in enumerate(histories):
        tail = np.asarray(hist[-width:], dtype=np.int64)
        if len(tail):
            out[row, width - len(tail) :] = tail
    return out
