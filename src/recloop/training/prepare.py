"""Turn events, a catalog and (optionally) a parent model into one training problem.

Decides the item vocabulary (the parent's items keep their rows, new catalog items are
appended: the id space grows), applies the positive threshold, and splits off validation
cases when none are given.

Incremental training gets the older events as ``history``. They play two parts, both as
sequences, so that training sees users the way serving does (with their past):

* context: a user active in the new window is read with their older events before the new
  ones, but only the new events are targets;
* replay: the older users' sequences form a pool from which the trainer draws whole
  windows (``train.replay_ratio`` replayed targets per new target) so the model does not
  forget what it knew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recloop.columns import ITEM_COL, SCENARIO_COL, TIMESTAMP_COL, USER_COL, VALUE_COL
from recloop.errors import UnusableInputError
from recloop.model.new_items import SECONDS_PER_DAY
from recloop.training.sequences import (
    TARGET_FLAG,
    UserSequence,
    item_index_map,
    item_indices,
    scenario_index_map,
    time_ordered,
    user_sequences,
)


@dataclass
class ValidationCase:
    """A user's history (model indices) and the items they interacted with next."""

    history: np.ndarray
    targets: np.ndarray
    scenario: int = 0
    time: float = float("nan")  # days since the epoch of the first target event


@dataclass
class TrainingProblem:
    """Everything the training loop needs, in model index space (1-based, 0 = padding)."""

    item_ids: np.ndarray
    items: pd.DataFrame  # catalog rows in model order
    scenarios: list[str]
    sequences: list[UserSequence]  # new events are targets, older ones context only
    replay_sequences: list[UserSequence]  # older users' full sequences (incremental only)
    valid_cases: list[ValidationCase]
    popularity: np.ndarray  # (n_items,) training interactions
    seen: np.ndarray  # (n_items,) bool: item has a training interaction
    window_start: int | None
    window_end: int | None
    n_train_events: int


def split_last_per_user(
    events: pd.DataFrame, min_events: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's last event (users with ``min_events`` or more) for validation."""
    ordered = time_ordered(events)
    counts = ordered.groupby(USER_COL)[ITEM_COL].transform("size")
    is_last = ~ordered.duplicated(USER_COL, keep="last")
    held = is_last & (counts >= min_events)
    return ordered[~held], ordered[held]


def build_vocabulary(
    items: pd.DataFrame, events: pd.DataFrame, parent_items: pd.DataFrame | None
) -> pd.DataFrame:
    """Catalog rows in model order: the parent's items first, then new ones by id.

    Items that occur in events but not in the catalog are added with no text fields, so
    their events still train the model (their text is "unknown item").
    """
    catalog = items.drop_duplicates(ITEM_COL, keep="last")
    extra = np.setdiff1d(events[ITEM_COL].unique(), catalog[ITEM_COL].to_numpy())
    if len(extra):
        catalog = pd.concat([catalog, pd.DataFrame({ITEM_COL: extra})], ignore_index=True)
    if parent_items is None:
        return catalog.sort_values(ITEM_COL, kind="stable").reset_index(drop=True)
    parent_ids = parent_items[ITEM_COL].to_numpy()
    fresh = catalog.set_index(ITEM_COL)
    old = parent_items.set_index(ITEM_COL)
    old.update(fresh[fresh.index.isin(parent_ids)])  # newer metadata for known items
    new = fresh[~fresh.index.isin(parent_ids)].sort_index()
    return pd.concat([old, new]).reset_index()


# Long: building the problem is one sequence of filters whose order matters (see the
# module docstring); split, the order would be harder to check.
def prepare_problem(
    events: pd.DataFrame,
    items: pd.DataFrame,
    *,
    parent_items: pd.DataFrame | None = None,
    parent_scenarios: list[str] | None = None,
    parent_seen: np.ndarray | None = None,
    history: pd.DataFrame | None = None,
    valid_events: pd.DataFrame | None = None,
    positive_threshold: float | None = None,
) -> TrainingProblem:
    """Build the training problem (see the module docstring)."""
    if len(events) == 0:
        raise UnusableInputError("no events to train on")
    window_start, window_end = (
        int(events[TIMESTAMP_COL].min()),
        int(events[TIMESTAMP_COL].max()) + 1,
    )
    history = history if history is not None and len(history) else None
    if positive_threshold is not None:
        events = events[events[VALUE_COL] >= positive_threshold]
        if history is not None:
            history = history[history[VALUE_COL] >= positive_threshold]
    if valid_events is None:
        events, valid_events = split_last_per_user(events)
    elif positive_threshold is not None:
        valid_events = valid_events[valid_events[VALUE_COL] >= positive_threshold]
    everything = [events, valid_events] + ([history] if history is not None else [])
    catalog = build_vocabulary(items, pd.concat(everything), parent_items)
    item_ids = catalog[ITEM_COL].to_numpy(dtype=np.int64)
    index_of = item_index_map(item_ids)
    scenarios = list(parent_scenarios or [])
    for frame in (events, valid_events):
        if SCENARIO_COL in frame.columns:
            scenarios += sorted(set(frame[SCENARIO_COL].dropna().astype(str)) - set(scenarios))
    scenario_of = scenario_index_map(scenarios)
    learned = events
    replay_sequences: list[UserSequence] = []
    if history is None:
        sequences = user_sequences(events, index_of, scenario_of)
    else:
        context = history[history[USER_COL].isin(events[USER_COL].unique())]
        sequences = user_sequences(
            pd.concat(
                [context.assign(**{TARGET_FLAG: False}), events.assign(**{TARGET_FLAG: True})],
                ignore_index=True,
            ),
            index_of,
            scenario_of,
        )
        replay_sequences = list(user_sequences(history, index_of, scenario_of).values())
        learned = pd.concat([history, events], ignore_index=True)
    popularity = np.bincount(
        item_indices(learned[ITEM_COL].to_numpy(), index_of), minlength=len(item_ids) + 1
    )[1:].astype(np.float32)
    seen = popularity > 0
    if parent_seen is not None:
        seen[: len(parent_seen)] |= parent_seen.astype(bool)
    return TrainingProblem(
        item_ids=item_ids,
        items=catalog,
        scenarios=scenarios,
        sequences=list(sequences.values()),
        replay_sequences=replay_sequences,
        valid_cases=_validation_cases(valid_events, sequences, index_of, scenario_of),
        popularity=popularity,
        seen=seen,
        window_start=window_start,
        window_end=window_end,
        n_train_events=len(events),
    )


def _validation_cases(
    valid_events: pd.DataFrame,
    sequences: dict[int, UserSequence],
    index_of: dict[int, int],
    scenario_of: dict[str, int],
) -> list[ValidationCase]:
    """One case per validation user (by user id): training history -> their validation items.

    A user counts when they have a training sequence and a validation item in the
    vocabulary; the case's scenario is their first validation event's that names one, its
    time their earliest validation event's (both over all their validation events). One
    pass of array operations over the events, then one object per user.
    """
    ordered = time_ordered(valid_events)
    users = ordered[USER_COL].to_numpy(dtype=np.int64)
    if len(users) == 0:
        return []
    targets = item_indices(ordered[ITEM_COL].to_numpy(), index_of)
    # Distinct known targets per user, ascending (np.unique per user, done at once).
    known = targets > 0
    pairs = pd.DataFrame({"u": users[known], "t": targets[known]}).drop_duplicates()
    pairs = pairs.sort_values(["u", "t"], kind="stable")
    pair_users, pair_targets = pairs["u"].to_numpy(), pairs["t"].to_numpy(dtype=np.int64)
    first_at = np.flatnonzero(np.r_[True, pair_users[1:] != pair_users[:-1]])
    stops = np.r_[first_at[1:], len(pair_users)]
    earliest = pd.Series(ordered[TIMESTAMP_COL].to_numpy(dtype=np.float64)).groupby(users).min()
    case_users = pair_users[first_at]
    when = earliest.to_numpy()[np.searchsorted(earliest.index.to_numpy(), case_users)]
    scenario: dict[int, int] = {}
    if SCENARIO_COL in ordered.columns:
        named = ordered[ordered[SCENARIO_COL].notna()].drop_duplicates(USER_COL)
        scenario = {
            int(u): scenario_of.get(str(name), 0)
            for u, name in zip(named[USER_COL], named[SCENARIO_COL], strict=True)
        }
    cases = []
    for user, a, b, day in zip(
        case_users.tolist(), first_at.tolist(), stops.tolist(), when.tolist(), strict=True
    ):
        seq = sequences.get(int(user))
        if seq is None:
            continue
        cases.append(
            ValidationCase(
                seq.items,
                pair_targets[a:b],
                scenario.get(int(user), 0),
                day / SECONDS_PER_DAY,
            )
        )
    return cases
