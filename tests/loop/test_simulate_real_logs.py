"""``recloop simulate DIR --every N`` on real slices of MovieLens-1M and Amazon Beauty.

Both logs are implicit (no rating column) and arrive unevenly over years, which is why
the replay cuts them by event count. A slice keeps a few hundred real users (and, for
Beauty, its most popular items, so the item text to encode stays small) over the whole
time span; the tiny model of the loop tests and a single replayed window keep each replay
short. The check is the replay's mechanics on these logs: windows as ``loop.windows`` cuts
them, four arms scored on every window, the summary consistent with the windows; not
quality, which the full-size replays report (README).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recloop.cli.main import app
from recloop.loop.windows import count_windows, fraction_point

pytestmark = [pytest.mark.slow]

ARMS = {"continual", "frozen", "full_retrain", "recent_pop"}


def write_slice(source: Path, out: Path, events: pd.DataFrame) -> Path:
    """A canonical dataset directory holding ``events`` and their items, as the source has
    them: implicit events (no rating column), Beauty's items with a title only."""
    out.mkdir(parents=True)
    events[["user_id", "item_id", "timestamp"]].to_csv(out / "interactions.csv", index=False)
    items = pd.read_csv(source / "items.csv", dtype=str)
    items = items[items["item_id"].astype(int).isin(events["item_id"])]
    items.to_csv(out / "items.csv", index=False)
    return out


def _popular(events: pd.DataFrame, n: int) -> pd.Series:
    return events["item_id"].isin(events["item_id"].value_counts().index[:n])


@pytest.fixture
def movielens_1m_slice(datasets_dir: Path, tmp_path: Path) -> Path:
    """MovieLens-1M's 500 most rated movies and 151 users (ids divisible by 40): 12,742 events."""
    source = datasets_dir / "movielens-1m"
    events = pd.read_csv(source / "interactions.csv")
    keep = _popular(events, 500) & (events["user_id"] % 40 == 0)
    return write_slice(source, tmp_path / "ml-1m-slice", events[keep])


@pytest.fixture
def beauty_slice(datasets_dir: Path, tmp_path: Path) -> Path:
    """Amazon Beauty's 500 most reviewed items, users with ids divisible by 4: 13,542 events."""
    source = datasets_dir / "amazon-beauty"
    events = pd.read_csv(source / "interactions.csv")
    keep = _popular(events, 500) & (events["user_id"] % 4 == 0)
    return write_slice(source, tmp_path / "beauty-slice", events[keep])


@pytest.fixture
def prefect_logs_to_a_live_stream():
    """Point Prefect's console log handler back at pytest's stream after each replay.

    A flow run inside ``CliRunner.invoke`` leaves the handler writing to the runner's
    stream, closed once the invoke returns; the next replay's logs would fail on it.
    """
    yield
    from prefect.logging.configuration import setup_logging

    setup_logging(incremental=False)


# The gate's holdout (the newest days of each batch): three days of the Beauty slice hold a
# few dozen reviews with history, too few for the one-epoch model to hit once (the gate's
# floors then refuse even the initial model), so it gets two weeks.
@pytest.mark.parametrize(
    ("data", "every", "holdout_days"),
    [("movielens_1m_slice", 1500, "3"), ("beauty_slice", 1500, "14")],
)
def test_simulate_replays_count_windows_of_a_real_log(
    loop_env,
    request,
    tmp_path,
    monkeypatch,
    prefect_harness,
    prefect_logs_to_a_live_stream,
    data,
    every,
    holdout_days,
):
    directory: Path = request.getfixturevalue(data)
    monkeypatch.setenv("RECLOOP_LOOP__SIMULATE_MAX_EPOCHS", "1")
    monkeypatch.setenv("RECLOOP_LOOP__HOLDOUT_DAYS", holdout_days)
    # One replayed window: the base's flow, four arms, the window's flow (each step is
    # costly: a full retrain, a gate that loads the candidate in a fresh process); the
    # window after it (recent popularity from the previous window) is test_recent_pop's.
    args = ["simulate", str(directory), "--every", str(every), "--steps", "1"]
    result = CliRunner().invoke(app, [*args, "--workspace", str(tmp_path / "sim"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    # The windows are the ones loop.windows cuts from the 70% point of the sorted log.
    times = np.sort(pd.read_csv(directory / "interactions.csv")["timestamp"].to_numpy())
    cut = fraction_point(times, 0.7)
    expected = count_windows(times, cut, every, limit=1)
    assert summary["every"] == str(every) and summary["windows_by"] == "events"
    assert summary["initial_model"]["events"] == int((times < cut).sum())
    assert [w["events"] for w in summary["per_week"]] == [w.events for w in expected]
    assert all(w["events"] >= every for w in summary["per_week"])
    assert [w["week"] for w in summary["per_week"]] == [1]

    assert set(summary["arms"]) == ARMS
    for week in summary["per_week"]:
        assert set(week["arms"]) == ARMS and week["test_cases"] > 0
        # Every event of the window whose user has history is a test case.
        assert week["test_cases"] <= week["events"]
    for arm, values in summary["arms"].items():
        weekly = [w["arms"][arm]["ndcg"] for w in summary["per_week"]]
        assert values["mean_ndcg@10"] == pytest.approx(np.mean(weekly))
        assert 0 <= values["mean_ndcg@10"] <= 1
    gap = summary["bootstrap"]["continual_minus_recent_pop"]
    assert gap["low"] <= gap["diff"] <= gap["high"]
    report = Path(summary["report_path"]).read_text()
    assert "recent popularity" in report and f"windows of {every} events" in report


def test_recent_pop_ranks_the_previous_windows_most_popular_items(datasets_dir):
    """The fourth arm's scores: the previous window's counts, the history only breaking ties.

    On MovieLens-1M's default cut (no training): the first window's recent popularity
    comes from the base's last window of the same size, the second's from the first window.
    """
    from recloop.data.readers import Dataset
    from recloop.loop.simulate import LastWindowPopularity, lead_in, plan_for, sorted_events
    from recloop.settings import Settings

    events = pd.read_csv(datasets_dir / "movielens-1m" / "interactions.csv")
    events = sorted_events(Dataset(events=events, items=None, users=None))
    plan = plan_for(Settings(), events, None, base_weeks=None, steps=None)
    first, second = plan.windows[:2]
    size = plan.every.events
    assert size is not None
    previous = lead_in(events, plan)
    assert len(previous) == size and previous.index[-1] == plan.base_events - 1
    for window, before in ((first, previous), (second, events.iloc[first.lo : first.hi])):
        history = events.iloc[: window.lo]
        item_ids = np.sort(events["item_id"].unique())
        scores = LastWindowPopularity(history, before, item_ids).score([[1]])[0]
        ranked = item_ids[np.argsort(-scores, kind="stable")]
        counts = before["item_id"].value_counts()
        top = counts[counts > counts.iloc[10]].index  # the previous window's clear top items
        assert set(ranked[: len(top)]) == set(top)
        assert scores[np.searchsorted(item_ids, counts.index[0])] == scores.max()
        # Items the previous window never saw rank below every item it saw.
        unseen = ~np.isin(item_ids, counts.index)
        assert scores[unseen].max() < scores[~unseen].min()
