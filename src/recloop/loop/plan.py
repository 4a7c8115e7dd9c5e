"""The data windows of one loop step, read from the event store and the champion's tags.

Windows are contiguous: a candidate learns ``[champion.window_end, holdout_start)`` (plus a
replay sample of older events) and is tagged with ``window_end = holdout_start``, so the
held-out newest days are learned by the next step, never lost. A step is idempotent per
data window: its ``run_key`` is tagged on the version it registers, and a repeated or
retried run finds that version instead of training or promoting again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from recloop.clock import SECONDS_PER_DAY
from recloop.columns import TIMESTAMP_COL
from recloop.data import schema
from recloop.data.store import (
    count_events,
    items_seen_by,
    load_events,
    load_user_histories,
    newest_start,
    open_store,
)
from recloop.evaluation.protocols import EvalCases, next_window_cases
from recloop.registry import ModelVersionInfo, get_champion
from recloop.settings import Settings

TrainMode = Literal["full", "incremental"]


@dataclass(frozen=True)
class StepPlan:
    """The data windows of one loop step (Unix seconds, half-open)."""

    mode: TrainMode
    train_start: int | None  # None: from the first event (full training)
    holdout_start: int
    window_end: int  # one past the newest event: the step's "now" on the data clock
    parent: ModelVersionInfo | None

    @property
    def run_key(self) -> str:
        """Identifies the step's data: a retried or duplicate run maps to the same key."""
        return f"{self.mode}:{self.train_start or 0}:{self.holdout_start}:{self.window_end}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "train_start": self.train_start,
            "holdout_start": self.holdout_start,
            "window_end": self.window_end,
            "parent_version": self.parent.version if self.parent else None,
            "run_key": self.run_key,
        }


def plan_step(settings: Settings, mode: TrainMode = "incremental") -> StepPlan | None:
    """Decide the windows of this step, or None when there is nothing new to learn.

    The newest ``loop.holdout_days`` of data are held out for the gate. Without a champion
    the step is a full training (bootstrap); ``mode="full"`` retrains from scratch.
    """
    bounds = event_bounds(settings)
    if bounds is None:
        return None
    first, window_end = bounds
    champion = get_champion(settings)
    holdout_start = int(window_end - settings.loop.holdout_days * SECONDS_PER_DAY)
    if champion is None or mode == "full":
        if holdout_start <= first:
            return None
        return StepPlan("full", None, holdout_start, window_end, champion)
    train_start = champion.window_end or first
    if holdout_start <= train_start:
        return None  # the new data does not yet cover a training part and a holdout
    return StepPlan("incremental", train_start, holdout_start, window_end, champion)


def event_bounds(settings: Settings) -> tuple[int, int] | None:
    """First event time and one past the last, from the store (None when empty)."""
    column = schema.events.c[TIMESTAMP_COL]
    with open_store(settings).connect() as connection:
        first, last = connection.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
    return None if first is None else (int(first), int(last) + 1)


def window_events(settings: Settings, start: int | None, end: int | None) -> pd.DataFrame:
    """Events of ``[start, end)`` from the store."""
    return load_events(settings, start, end)


def older_events(
    settings: Settings, start: int | None, end: int, max_events: int | None = None
) -> pd.DataFrame:
    """Events of ``[start, end)``, at most the newest ``max_events`` of them.

    The drift reference and the replay pool: a step reads a bounded slice of the past,
    not the whole stored history (the bound is found on the time index, then read).
    ``max_events`` defaults to ``loop.max_history_events`` (the replay pool's bound).
    """
    bound = settings.loop.max_history_events if max_events is None else max_events
    cut = newest_start(settings, end, bound)
    if cut is not None and (start is None or cut > start):
        start = cut
    return window_events(settings, start, end)


def new_event_count(settings: Settings, plan: StepPlan) -> int:
    """Events the champion has not learned (everything when there is no champion)."""
    return count_events(settings, plan.train_start, plan.window_end)


def holdout_cases(settings: Settings, plan: StepPlan) -> EvalCases:
    """Next-item cases of the held-out newest days, ranked from all earlier history.

    Reads only the holdout's users (their whole history, on the user index); whether a
    target item is cold (no event up to the cut-off) is asked of the store, since those
    users' events alone cannot tell.
    """
    events = load_user_histories(settings, plan.holdout_start, plan.window_end, plan.window_end)
    window = plan.window_end - plan.holdout_start
    cases = next_window_cases(events, plan.holdout_start, window)
    targets = np.array([int(t[0]) for t in cases.targets], dtype=np.int64)
    seen = items_seen_by(settings, np.unique(targets).tolist(), plan.holdout_start)
    cold = ~np.isin(targets, np.fromiter(seen, dtype=np.int64, count=len(seen)))
    return replace(cases, cold_items=cold)


def inbox_files(settings: Settings) -> list[str]:
    """Batch files waiting in ``<home>/inbox`` (ingest skips those already stored)."""
    inbox = settings.home_dir / "inbox"
    if not inbox.is_dir():
        return []
    suffixes = {".csv", ".parquet", ".tsv", ".dat"}
    return [str(p) for p in sorted(inbox.iterdir()) if p.suffix.lower() in suffixes]
