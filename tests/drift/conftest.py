"""Real MovieLens weeks for the drift tests: reference = every event before the week."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

WEEK = 7 * 86_400


@dataclass
class WeekCase:
    """One weekly check on real data."""

    reference: pd.DataFrame
    current: pd.DataFrame
    items: pd.DataFrame
    reference_window: tuple[int, int]
    current_window: tuple[int, int]


def week_case(movielens, week: int) -> WeekCase:
    """Week ``week`` (0 = the first 7 days of MovieLens) against all earlier events."""
    events = movielens.events
    start = int(events["timestamp"].min()) + week * WEEK
    end = start + WEEK
    reference = events[events["timestamp"] < start].reset_index(drop=True)
    current = events[(events["timestamp"] >= start) & (events["timestamp"] < end)].reset_index(
        drop=True
    )
    return WeekCase(
        reference, current, movielens.items, (int(events["timestamp"].min()), start), (start, end)
    )


@pytest.fixture
def drift_settings(tmp_path):
    """Settings in a throw-away workspace; no MLflow unless a test turns it on."""
    from recloop.settings import Settings

    settings = Settings(home=tmp_path / "home")
    settings.drift.log_to_mlflow = False
    return settings
