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
    item_idx = ordered[ITEM_COL].map(index_of)
    known = item_idx.notna().to_numpy()
    ordered = ordered[known]
    item_idx = item_idx[known].astype("int64").to_numpy()
    values = ordered[VALUE_COL].astype("float32").to_numpy()
    scen = np.zeros(len(ordered), dtype=np.int64)
    if scenario_of and SCENARIO_COL in ordered.columns:
        scen = ordered[SCENARIO_COL].map(scenario_of).fillna(0).astype("int64").to_numpy()
    flags = ordered[TARGET_FLAG].to_numpy(dtype=bool) if TARGET_FLAG in ordered.columns else None
    users = ordered[USER_COL].to_numpy()
    order = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(np.diff(users[order])) + 1
    sequences = {}
    for group in np.split(order, bounds):
        if len(group) == 0:
            continue
        user = int(users[group[0]])
        sequences[user] = UserSequence(
            user,
            item_idx[group],
            values[group],
            scen[group],
            None if flags is None else flags[group],
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
    # (inputs, targets, values, scenarios, target mask) of each window
    rows: list[tuple[np.ndarray, ...]] = []
    for seq in sequences:
        end = len(seq.items)
        while end >= 2:
            start = max(0, end - max_len - 1)
            span = slice(start + 1, end)
            mask = (
                np.ones(end - start - 1, dtype=bool)
                if seq.is_target is None
                else seq.is_target[span].astype(bool)
            )
            if start > 0:  # older positions are the targets of an older window
                mask &= np.arange(start + 1, end) >= end - stride
            if mask.any():  # a window of context only teaches nothing
                rows.append(
                    (
                        seq.items[start : end - 1],
                        seq.items[span],
                        seq.values[span],
                        seq.scenarios[span],
                        mask,
                    )
                )
            end = end - stride if start > 0 else 0
    n = len(rows)
    inputs = np.zeros((n, max_len), dtype=np.int64)
    targets = np.zeros((n, max_len), dtype=np.int64)
    weights = np.zeros((n, max_len), dtype=np.float32)
    scenarios = np.zeros((n, max_len), dtype=np.int64)
    for r, (inp, tgt, val, scen, mask) in enumerate(rows):
        width = len(inp)
        inputs[r, max_len - width :] = inp
        targets[r, max_len - width :] = tgt
        weights[r, max_len - width :] = (val if value_weighted else 1.0) * mask
        scenarios[r, max_len - width :] = scen
    if value_weighted and n:
        positive = weights[weights > 0]
        weights = weights / max(float(positive.mean()), 1e-9)
    return TrainingWindows(inputs, targets, weights, scenarios)


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
