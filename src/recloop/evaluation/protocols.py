"""Evaluation protocols: which events are held out, and what each test case sees.

Two protocols, both producing ``EvalCases`` that the harness ranks:

- **Leave-one-out by time** (``leave_one_out`` + ``loo_cases``): per user, events sorted by
  time with a *stable* sort (equal timestamps keep source order), the last event is the test
  case and the one before it the validation case, exactly as RecBole 1.2.1's
  ``Dataset.build`` with ``eval_args: {order: TO, split: {LS: valid_and_test}}``
  (``Interaction.sort`` uses ``np.argsort(kind="stable")``; ``_split_index_by_leave_one_out``
  keeps at least one training event, so a user with 2 events has no validation case).
  On MovieLens-100k 415 of 943 users have a tie at their last timestamp, so the stable sort
  decides their test item. Test cases rank against every item with the user's training
  and validation items excluded.
- **Next window** (``next_window_cases``): the streaming protocol of the loop. The model is
  trained on events up to ``t`` and frozen; every event in ``(t, t + w]`` is a case ranked
  from all the user's events before it, including earlier ones of the same window, so a
  user who arrives inside the window counts once they have history.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recloop.columns import ITEM_COL, SCENARIO_COL, TIMESTAMP_COL, USER_COL
from recloop.errors import UnusableInputError


@dataclass(frozen=True)
class LooSplit:
    """Leave-one-out split: canonical event frames in stable time order.

    Attributes:
        train: every event but each user's last two (or last one for a 2-event user).
        valid: one event per user with at least 3 events (the one before the last).
        test: one event per user with at least 2 events (the last).
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


@dataclass
class EvalCases:
    """Test cases for the harness: what each case has seen and what it should find.

    Attributes:
        user_ids: ``(n,)`` user of each case (a user may have several cases in next-window).
        histories: per case, the user's earlier item ids in time order (oldest first).
        targets: per case, an int array of held-out relevant item ids.
        exclude: per case, item ids that may not be recommended (the items already seen).
        timestamps: ``(n,)`` time of each held-out event, or None.
        scenarios: per case, the scenario of the held-out event (None when unknown).
        cold_items: ``(n,)`` bool, the target item had no event up to the cut-off (next-window).
        name: protocol label (``"loo-test"``, ``"next-window"``...).
    """

    user_ids: np.ndarray
    histories: list[np.ndarray]
    targets: list[np.ndarray]
    exclude: list[np.ndarray]
    timestamps: np.ndarray | None = None
    scenarios: list[str | None] | None = None
    cold_items: np.ndarray | None = None
    name: str = "cases"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.user_ids = np.asarray(self.user_ids, dtype=np.int64)
        n = len(self.user_ids)
        for name in ("histories", "targets", "exclude", "timestamps", "scenarios", "cold_items"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise UnusableInputError(
                    f"EvalCases.{name} has {len(values)} entries for {n} cases"
                )

    def __len__(self) -> int:
        return len(self.user_ids)

    def subset(self, mask: np.ndarray | Sequence[bool]) -> EvalCases:
        """The cases where ``mask`` is True (for slices and tests)."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))

        def pick(values):
            if values is None:
                return None
            if isinstance(values, np.ndarray):
                return values[rows]
            return [values[i] for i in rows]

        return EvalCases(
            user_ids=self.user_ids[rows],
            histories=pick(self.histories),
            targets=pick(self.targets),
            exclude=pick(self.exclude),
            timestamps=pick(self.timestamps),
            scenarios=pick(self.scenarios),
            cold_items=pick(self.cold_items),
            name=self.name,
        )


def sort_by_time(events: pd.DataFrame) -> pd.DataFrame:
    """Events in time order; equal timestamps keep their current (source) order."""
    return events.sort_values(TIMESTAMP_COL, kind="stable").reset_index(drop=True)


def leave_one_out(events: pd.DataFrame) -> LooSplit:
    """Split events per user: last event is test, the one before it validation.

    Args:
        events: canonical events in source order (or the store's (timestamp, event_id) order,
            which is the same for equal timestamps).

    Returns:
        LooSplit: three frames, each in stable time order, index reset.

    Raises:
        UnusableInputError: no events.
    """
    if events.empty:
        raise UnusableInputError("no events to split for leave-one-out evaluation")
    ordered = sort_by_time(events)
    # Position of each event from the end of its user's sequence: 0 = last, 1 = before last.
    from_end = ordered.groupby(USER_COL, sort=False).cumcount(ascending=False).to_numpy()
    size = ordered.groupby(USER_COL, sort=False)[USER_COL].transform("size").to_numpy()
    is_test = (from_end == 0) & (size >= 2)
    is_valid = (from_end == 1) & (size >= 3)
    is_train = ~(is_test | is_valid)
    return LooSplit(
        train=ordered[is_train].reset_index(drop=True),
        valid=ordered[is_valid].reset_index(drop=True),
        test=ordered[is_test].reset_index(drop=True),
    )


def _item_sequences(events: pd.DataFrame) -> dict[int, np.ndarray]:
    """User id -> item ids in the frame's (time) order."""
    if events.empty:
        return {}
    grouped = events.groupby(USER_COL, sort=False)[ITEM_COL]
    return {int(user): items.to_numpy(dtype=np.int64) for user, items in grouped}


def loo_cases(split: LooSplit, stage: str = "test") -> EvalCases:
    """Cases of the leave-one-out protocol.

    Args:
        split: from ``leave_one_out``.
        stage: ``"test"`` (history = train + valid events) or ``"valid"`` (history = train).

    Returns:
        EvalCases: one case per held-out event, ordered by user id; the history's items
        are excluded (full ranking over the rest of the catalog).
    """
    if stage not in ("test", "valid"):
        raise UnusableInputError(f"stage must be 'test' or 'valid', not {stage!r}")
    held_out = split.test if stage == "test" else split.valid
    seen = split.train if stage == "valid" else pd.concat([split.train, split.valid])
    seen = sort_by_time(seen) if stage == "test" else seen
    sequences = _item_sequences(seen)
    held_out = held_out.sort_values(USER_COL, kind="stable")
    users = held_out[USER_COL].to_numpy(dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    histories = [sequences.get(int(u), empty) for u in users]
    return EvalCases(
        user_ids=users,
        histories=histories,
        targets=[np.array([i], dtype=np.int64) for i in held_out[ITEM_COL].to_numpy()],
        exclude=[np.unique(h) for h in histories],
        timestamps=held_out[TIMESTAMP_COL].to_numpy(dtype=np.int64),
        scenarios=_scenarios(held_out),
        name=f"loo-{stage}",
    )


def next_window_cases(events: pd.DataFrame, t: int, window_seconds: int) -> EvalCases:
    """Cases of the streaming protocol: every event in ``(t, t + window_seconds]``.

    Args:
        events: canonical events covering at least everything up to ``t + window_seconds``.
        t: cut-off (Unix s); the model under test saw events with ``timestamp <= t`` only.
        window_seconds: window length ``w``.

    Returns:
        EvalCases: one case per window event whose user has earlier events, in time order;
        history = all the user's earlier events (stable time order), seen items excluded;
        ``cold_items`` marks targets with no event at or before ``t``.

    Raises:
        UnusableInputError: the window holds no event with history.
    """
    ordered = sort_by_time(events)
    ts = ordered[TIMESTAMP_COL].to_numpy()
    in_window = (ts > t) & (ts <= t + window_seconds)
    position = ordered.groupby(USER_COL, sort=False).cumcount().to_numpy()
    rows = np.flatnonzero(in_window & (position > 0))
    if len(rows) == 0:
        raise UnusableInputError(
            f"no event with user history in the window ({t}, {t + window_seconds}]"
        )
    sequences = _item_sequences(ordered)
    users = ordered[USER_COL].to_numpy(dtype=np.int64)[rows]
    targets = ordered[ITEM_COL].to_numpy(dtype=np.int64)[rows]
    histories = [sequences[int(u)][:p] for u, p in zip(users, position[rows], strict=True)]
    known_items = np.unique(ordered.loc[ts <= t, ITEM_COL].to_numpy())
    return EvalCases(
        user_ids=users,
        histories=histories,
        targets=[np.array([i], dtype=np.int64) for i in targets],
        exclude=[np.unique(h) for h in histories],
        timestamps=ts[rows].astype(np.int64),
        scenarios=_scenarios(ordered.iloc[rows]),
        cold_items=~np.isin(targets, known_items),
        name="next-window",
    )


def _scenarios(frame: pd.DataFrame) -> list[str | None] | None:
    if SCENARIO_COL not in frame.columns or frame[SCENARIO_COL].isna().all():
        return None
    return [None if pd.isna(s) else str(s) for s in frame[SCENARIO_COL]]


def activity_bucket(history_lengths: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """Label each case by its history length: ``"<20"``, ``"20-49"``, ..., ``">=200"``.

    Args:
        history_lengths: events the user had before the case.
        edges: ascending bucket boundaries, e.g. ``(20, 50, 100, 200)``.

    Returns:
        np.ndarray: object array of labels.
    """
    edges = list(edges)
    labels = [f"<{edges[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(edges)]
    labels += [f">={edges[-1]}"]
    index = np.searchsorted(np.asarray(edges), np.asarray(history_lengths), side="right")
    return np.asarray(labels, dtype=object)[index]
