"""From canonical events to what the network trains on: per-user item-index sequences.

Events are ordered per user by a **stable** sort on time (equal timestamps keep source
order, or ``event_id`` order when the store provides it), exactly as the evaluation
protocols do, so the model learns the order it is evaluated on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recloop.columns import ITEM_COL, SCENARIO_COL, TIMESTAMP_COL, USER_COL, VALUE_COL


@dataclass
class UserSequence:
    """One user's events as model indices (1-based; 0 is padding)."""

    user_id: int
    items: np.ndarray  # int64 item indices, oldest first
    values: np.ndarray  # float32 event values
    scenarios: np.ndarray  # int64 scenario indices (0: none)
    # Which events are prediction targets (None: all). Incremental training reads a
    # user's older events as context but learns only to predict the new ones.
    is_target: np.ndarray | None = None


@dataclass
class TrainingWindows:
    """Padded next-item training windows: inputs predict targets position by position."""

    inputs: np.ndarray  # (N, L) int64, left-padded with 0
    targets: np.ndarray  # (N, L) int64, 0 where there is nothing to predict
    weights: np.ndarray  # (N, L) float32 loss weight per target
    scenarios: np.ndarray  # (N, L) int64 scenario of each target event

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def n_targets(self) -> int:
        return int((self.weights > 0).sum())

    def take(self, rows: np.ndarray) -> TrainingWindows:
        return TrainingWindows(*(getattr(self, f)[rows] for f in _WINDOW_FIELDS))

    @staticmethod
    def concat(parts: list[TrainingWindows]) -> TrainingWindows:
        return TrainingWindows(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in _WINDOW_FIELDS)
        )


_WINDOW_FIELDS = ("inputs", "targets", "weights", "scenarios")


def time_ordered(events: pd.DataFrame) -> pd.DataFrame:
    """Events sorted by (timestamp, event_id) when present, else stably by timestamp."""
    keys = [TIMESTAMP_COL, "event_id"] if "event_id" in events.columns else [TIMESTAMP_COL]
    return events.sort_values(keys, kind="stable")


def item_index_map(item_ids: np.ndarray) -> dict[int, int]:
    """Catalog id -> 1-based model index."""
    return {int(item): pos + 1 for pos, item in enumerate(item_ids)}


def item_indices(ids: np.ndarray | pd.Series, index_of: dict[int, int]) -> np.ndarray:
    """1-based model indices of catalog ids in one vectorised lookup; 0 for unknown ids.

    ``index_of`` is :func:`item_index_map`'s dict; it is read once into a pandas index
    (O(items)), then every id is looked up together (hashing, no per-id Python).
    """
    keys = np.fromiter(index_of.keys(), dtype=np.int64, count=len(index_of))
    values = np.fromiter(index_of.values(), dtype=np.int64, count=len(index_of))
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":  # e.g. float ids read from a CSV with blanks
        ids = pd.to_numeric(pd.Series(ids), errors="coerce").to_numpy(dtype=np.float64)
    at = pd.Index(keys).get_indexer(ids)
    return (
        np.where(at >= 0, values[np.maximum(at, 0)], 0)
        if len(keys)
        else np.zeros(len(ids), dtype=np.int64)
    )


def scenario_index_map(scenarios: list[str]) -> dict[str, int]:
    """Scenario name -> 1-based index (0 means "no scenario")."""
    return {name: pos + 1 for pos, name in enumerate(scenarios)}


TARGET_FLAG = "_is_target"  # optional bool column: False marks context-only events


def user_sequences(
    events: pd.DataFrame,
    index_of: dict[int, int],
    scenario_of: dict[str, int] | None = None,
) -> dict[int, UserSequence]:
    """Group events by user into time-ordered index sequences (unknown items dropped).

    A ``TARGET_FLAG`` column, when present, becomes each sequence's ``is_target``.
    """
    ordered = time_ordered(events)
    item_idx = item_indices(ordered[ITEM_COL].to_numpy(), index_of)
    known = item_idx > 0
    ordered = ordered[known]
    item_idx = item_idx[known]
    values = ordered[VALUE_COL].astype("float32").to_numpy()
    scen = np.zeros(len(ordered), dtype=np.int64)
    if scenario_of and SCENARIO_COL in ordered.columns:
        scen = ordered[SCENARIO_COL].map(scenario_of).fillna(0).astype("int64").to_numpy()
    flags = ordered[TARGET_FLAG].to_numpy(dtype=bool) if TARGET_FLAG in ordered.columns else None
    users = ordered[USER_COL].to_numpy()
    order = np.argsort(users, kind="stable")
    # One gather per column, then views per user: O(events) numpy, O(users) Python.
    users, item_idx, values, scen = users[order], item_idx[order], values[order], scen[order]
    flags = None if flags is None else flags[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else users
    stops = np.r_[starts[1:], len(users)].astype(np.int64)
    sequences = {}
    for user, a, b in zip(users[starts].tolist(), starts.tolist(), stops.tolist(), strict=True):
        sequences[int(user)] = UserSequence(
            int(user),
            item_idx[a:b],
            values[a:b],
            scen[a:b],
            None if flags is None else flags[a:b],
        )
    return sequences


def training_windows(
    sequences: list[UserSequence],
    max_len: int,
    *,
    value_weighted: bool = False,
    stride: int | None = None,
) -> TrainingWindows:
    """Cut each sequence into windows of at most ``max_len`` next-item predictions.

    A long history gives several windows, newest first, each ending ``stride`` events
    before the next newer one (default ``max_len``: windows side by side). Every event is
    the target of exactly one window: of the newest ``stride`` positions of its window (the
    oldest window also keeps its older positions). With ``stride < max_len`` windows
    overlap, so a target early in a long history is still predicted from at least
    ``max_len - stride`` earlier events instead of from the few events that happen to
    precede it in a side-by-side chunk; it costs ``max_len / stride`` times the windows.
    """
    stride = max_len if stride is None else stride
    if not 1 <= stride <= max_len:
        raise ValueError(f"stride must be in 1..{max_len}, got {stride}")
    flat = _Flat.of(sequences)
    seq, end, start = _window_bounds(flat.lengths, max_len, stride)
    # A window teaches only if one of its target positions is a target (a window of
    # context only teaches nothing): [lo, end) holds them, counted by prefix sums.
    lo = np.where(start > 0, end - stride, 1)
    teaches = flat.targets_between(seq, lo, end) > 0
    seq, end, start = seq[teaches], end[teaches], start[teaches]
    n = len(seq)
    out = TrainingWindows(
        np.zeros((n, max_len), dtype=np.int64),
        np.zeros((n, max_len), dtype=np.int64),
        np.zeros((n, max_len), dtype=np.float32),
        np.zeros((n, max_len), dtype=np.int64),
    )
    columns = np.arange(max_len, dtype=np.int64)
    for a in range(0, n, _WINDOW_CHUNK):  # bounded temporaries: (chunk, max_len) at a time
        b = min(a + _WINDOW_CHUNK, n)
        # Column c of a window ending at `end` predicts position end - max_len + c.
        position = end[a:b, None] - max_len + columns[None, :]
        real = position >= 1
        at = flat.offsets[seq[a:b], None] + np.where(real, position, 1)
        mask = real & flat.is_target[at]
        mask &= (start[a:b, None] == 0) | (position >= end[a:b, None] - stride)
        out.inputs[a:b] = np.where(real, flat.items[at - 1], 0)
        out.targets[a:b] = np.where(real, flat.items[at], 0)
        out.weights[a:b] = (flat.values[at] if value_weighted else np.float32(1.0)) * mask
        out.scenarios[a:b] = np.where(real, flat.scenarios[at], 0)
    if value_weighted and n:
        positive = out.weights[out.weights > 0]
        out.weights = out.weights / max(float(positive.mean()), 1e-9)
    return out


_WINDOW_CHUNK = 65_536


@dataclass
class _Flat:
    """All sequences end to end, so windows are cut with array indexing, not a loop."""

    items: np.ndarray
    values: np.ndarray
    scenarios: np.ndarray
    is_target: np.ndarray  # bool
    lengths: np.ndarray
    offsets: np.ndarray  # where each sequence starts in the flat arrays
    target_count: np.ndarray  # prefix sums of is_target (length + 1)

    @classmethod
    def of(cls, sequences: list[UserSequence]) -> _Flat:
        lengths = np.array([len(s.items) for s in sequences], dtype=np.int64)
        offsets = np.zeros(len(sequences), dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])

        def joined(parts: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

        flags = [
            np.ones(len(s.items), dtype=bool) if s.is_target is None else s.is_target
            for s in sequences
        ]
        is_target = joined(flags, bool)
        target_count = np.zeros(len(is_target) + 1, dtype=np.int64)
        np.cumsum(is_target, out=target_count[1:])
        return cls(
            joined([s.items for s in sequences], np.int64),
            joined([s.values for s in sequences], np.float32),
            joined([s.scenarios for s in sequences], np.int64),
            is_target,
            lengths,
            offsets,
            target_count,
        )

    def targets_between(self, seq: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Target events at positions [lo, hi) of each window's sequence."""
        base = self.offsets[seq]
        return self.target_count[base + hi] - self.target_count[base + lo]


def _window_bounds(
    lengths: np.ndarray, max_len: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sequence, end, start) of every window, sequences in order, newest window first.

    A sequence of length n >= 2 ends windows at n, n - stride, ... down to the first end
    whose window reaches the sequence's start (end <= max_len + 1); start is
    max(0, end - max_len - 1), and the window predicts positions start + 1 .. end - 1.
    """
    overflow = np.maximum(lengths - max_len - 1, 0)
    count = np.where(lengths >= 2, 1 + -(-overflow // stride), 0)
    seq = np.repeat(np.arange(len(lengths), dtype=np.int64), count)
    first = np.cumsum(count) - count
    nth = np.arange(len(seq), dtype=np.int64) - np.repeat(first, count)
    end = lengths[seq] - nth * stride
    return seq, end, np.maximum(end - max_len - 1, 0)


def sample_windows(windows: TrainingWindows, n_targets: int, seed: int) -> TrainingWindows:
    """A seeded random subset of whole windows holding about ``n_targets`` targets.

    Replay draws sequences, not scattered events: each replayed target keeps the history
    that preceded it, as it will have when the model serves.
    """
    if n_targets <= 0 or len(windows) == 0:
        return windows.take(np.arange(0))
    order = np.random.default_rng(seed).permutation(len(windows))
    counts = (windows.weights[order] > 0).sum(axis=1)
    keep = order[: int(np.searchsorted(np.cumsum(counts), n_targets)) + 1]
    return windows.take(np.sort(keep))
