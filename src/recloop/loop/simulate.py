"""Replay simulation: run the real continual flow window by window over a dataset's history.

It answers the question an operator asks before adopting the loop: on real history, does
continual retraining beat a model that is never retrained, and how close does cheap
incremental fine-tuning come to retraining from scratch at every step?

    recloop simulate movielens-100k                 # the default windows (loop/windows.py)
    recloop simulate movielens-1m --every 50000     # windows of 50,000 events
    recloop simulate movielens-100k --every 7d --bootstrap-weeks 20 --weeks 10

1. The base period's events (plus the catalogs) go through the ``continual`` flow: with no
   champion it trains from scratch and the bootstrap gate rule promotes it.
2. Each following window (by time or by event count, ``recloop.loop.windows``) is first
   *scored* by four arms, before anyone learns from it (next-window protocol: every event
   is a test case ranked from the user's earlier events): ``continual`` (the registry's
   champion at that moment), ``frozen`` (the initial model), ``full_retrain`` (a model
   trained from scratch on everything before the window) and ``recent_pop`` (the most
   popular items of the previous window, a baseline that is hard to beat on time splits).
3. Then the window's batch file goes through the ``continual`` flow: ingest, validate,
   drift, trigger, incremental fine-tune, gate, promote or reject.

The simulation runs in its own workspace (``<home>/simulation`` unless given), wiped at the
start, so its registry shows exactly this replay (``mlflow ui --backend-store-uri
sqlite:///<workspace>/mlflow.db``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recloop.clock import iso_date
from recloop.columns import ITEM_COL, TIMESTAMP_COL
from recloop.data.readers import Dataset, read_dataset
from recloop.errors import UnusableInputError
from recloop.evaluation.baselines import PopularityScorer
from recloop.evaluation.harness import evaluate_scorer
from recloop.evaluation.protocols import EvalCases, next_window_cases
from recloop.evaluation.significance import interval, stratified_bootstrap, two_sided_p
from recloop.loop.simulation_report import ArmWeek, WeekRecord, summarize, write_report
from recloop.loop.windows import Every, ReplayPlan, Window, plan_replay
from recloop.registry import ModelVersionInfo, get_champion
from recloop.scorer import Scorer
from recloop.serving import load_recommender
from recloop.serving.recommender import Recommender
from recloop.settings import Settings


@dataclass
class Batches:
    """The batch files the replay feeds to the flow."""

    bootstrap: list[str]
    windows: list[tuple[int, Window, str]]  # (number, window, path): non-empty windows only


def sorted_events(dataset: Dataset) -> pd.DataFrame:
    """The log in stable time order (ties keep file order), positions 0..n-1."""
    return dataset.events.sort_values(TIMESTAMP_COL, kind="stable").reset_index(drop=True)


def plan_for(
    settings: Settings,
    events: pd.DataFrame,
    every: Every | None,
    *,
    base_weeks: int | None,
    steps: int | None,
) -> ReplayPlan:
    """The replay's base period and windows for sorted ``events`` (``loop.windows`` rule)."""
    loop = settings.loop
    return plan_replay(
        events[TIMESTAMP_COL].to_numpy(),
        every,
        base_fraction=loop.simulate_base_fraction,
        max_steps=loop.simulate_max_steps,
        step_budget_events=loop.simulate_step_budget_events,
        base_weeks=base_weeks,
        steps=steps,
    )


def write_batches(
    dataset: Dataset, events: pd.DataFrame, plan: ReplayPlan, out_dir: Path
) -> Batches:
    """Write the base batch and one batch file per non-empty window (canonical CSV).

    A time window may hold no event (a quiet week); it is skipped, as a scheduled run with
    no new data would be, and keeps its number so the report's numbering follows the clock.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = []
    for name, frame in (("items.csv", dataset.items), ("users.csv", dataset.users)):
        if frame is not None:
            frame.to_csv(out_dir / name, index=False)
            bootstrap.append(str(out_dir / name))
    boot = out_dir / "events-bootstrap.csv"
    events.iloc[: plan.base_events].to_csv(boot, index=False)
    bootstrap.append(str(boot))
    first = int(events[TIMESTAMP_COL].iloc[0])
    offset = (plan.cut - first) // plan.every.seconds if plan.every.seconds else 0
    windows = []
    for index, window in enumerate(plan.windows, start=1):
        if window.events == 0:
            continue
        path = out_dir / f"events-window-{index:03d}.csv"
        events.iloc[window.lo : window.hi].to_csv(path, index=False)
        windows.append((offset + index, window, str(path)))
    return Batches(bootstrap, windows)


def lead_in(events: pd.DataFrame, plan: ReplayPlan) -> pd.DataFrame:
    """The base period's last window, cut like the replayed ones: recent popularity's data
    for the first replayed window (a period before the cut, or the last N base events)."""
    base = events.iloc[: plan.base_events]
    if plan.every.seconds is not None:
        return base[base[TIMESTAMP_COL] >= plan.cut - plan.every.seconds]
    return base.iloc[-(plan.every.events or 1) :]


class ArmScorer:
    """Evaluates models on a window and caches loaded models by URI."""

    def __init__(self, settings: Settings, items: pd.DataFrame) -> None:
        self.settings = settings
        self.items = items
        self._models: dict[str, Recommender] = {}

    def model(self, uri_or_dir: str) -> Recommender:
        if uri_or_dir not in self._models:
            self._models[uri_or_dir] = load_recommender(uri_or_dir)
        return self._models[uri_or_dir]

    def score_week(
        self, uri_or_dir: str, cases: EvalCases, train_seconds: float, version: str | None = None
    ) -> ArmWeek:
        return self.score(self.model(uri_or_dir), cases, train_seconds, version)

    def score(
        self, scorer: Scorer, cases: EvalCases, train_seconds: float, version: str | None = None
    ) -> ArmWeek:
        result = evaluate_scorer(scorer, cases, k=10, items=self.items)
        per_user = result.per_user.groupby("user_id")["ndcg@10"].sum().sort_index()
        return ArmWeek(
            ndcg=float(result.metrics["ndcg@10"]),
            coverage=float(result.metrics["coverage@10"]),
            train_seconds=train_seconds,
            version=version,
            per_user_ndcg_sum=per_user.to_numpy(dtype=float).tolist(),
        )


class LastWindowPopularity(PopularityScorer):
    """The recent-popularity arm: items ranked by their events in the previous window.

    Ties (and items absent from that window) are ordered by their count over the whole
    history before the test window, as ``RecentPopularityScorer`` does:
    score(i) = window_count(i) + history_count(i) / (max history count + 1).
    """

    def __init__(self, history: pd.DataFrame, last_window: pd.DataFrame, item_ids) -> None:
        super().__init__(history, item_ids)
        self.counts = self._aligned_counts(last_window) + self.counts / (self.counts.max() + 1.0)


def run_simulation(
    settings: Settings,
    dataset_dir: Path,
    *,
    every: Every | None = None,
    bootstrap_weeks: int | None = None,
    weeks: int | None = None,
    full_retrain: bool = True,
    on_plan: Callable[[ReplayPlan], None] | None = None,
    on_week: Callable[[WeekRecord], None] | None = None,
) -> dict[str, Any]:
    """Replay a dataset's windows after its base period; returns the summary.

    Args:
        settings: the simulation's workspace (wiped first).
        dataset_dir: a dataset directory in any layout ``read_dataset`` knows.
        every: the windows' period or size; None: the default rule (``loop.windows``).
        bootstrap_weeks: the base period in weeks from the first event (None: the rule's).
        weeks: windows replayed (None: the rule's number of steps).
        full_retrain: also train the from-scratch arm at each step (the costly comparison).
        on_plan: called with the windows once they are cut (progress display).
        on_week: called after each replayed window (progress display).
    """
    from recloop.loop.flows import continual  # prefect: imported when a simulation runs

    overrides = settings.loop.simulation_overrides()
    settings = settings.with_overrides(overrides)
    dataset = read_dataset(dataset_dir)
    events = sorted_events(dataset)
    plan = plan_for(settings, events, every, base_weeks=bootstrap_weeks, steps=weeks)
    if on_plan is not None:
        on_plan(plan)
    shutil.rmtree(settings.home_dir, ignore_errors=True)
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    batches = write_batches(dataset, events, plan, settings.home_dir / "batches")

    def step(paths: list[str]) -> dict[str, Any]:
        return continual(paths=paths, home=str(settings.home_dir), overrides=overrides)

    started = time.perf_counter()
    first = step(batches.bootstrap)
    initial = get_champion(settings)
    if initial is None:
        raise UnusableInputError(f"the initial model was not promoted: {first.get('reasons')}")
    bootstrap_info = {
        "version": initial.version,
        "train_seconds": float((first.get("candidate") or {}).get("train_seconds", 0.0)),
        "seconds": time.perf_counter() - started,
        "events": plan.base_events,
        "end": iso_date(plan.cut),
    }
    replay = WeekReplay(
        settings, dataset, events, ArmScorer(settings, dataset.items), initial, step
    )
    records: list[WeekRecord] = []
    previous = lead_in(events, plan)
    for number, window, path in batches.windows:
        record = replay.week(number, window, path, previous, full_retrain)
        previous = events.iloc[window.lo : window.hi]
        records.append(record)
        if on_week is not None:
            on_week(record)
    out_dir = settings.reports_dir / "simulation"
    boot = bootstrap_comparison(records, settings)
    summary = summarize(records, boot, out_dir / "report.html", bootstrap_info)
    summary["every"] = plan.every.text
    summary["windows_by"] = "time" if plan.every.by_time else "events"
    write_report(summary, records, out_dir)
    return summary


@dataclass
class WeekReplay:
    """One replayed window: score the arms on it first, then feed it to the loop's flow."""

    settings: Settings
    dataset: Dataset
    events: pd.DataFrame  # the log, sorted stably by time (positions as the plan's)
    scorer: ArmScorer
    initial: ModelVersionInfo  # the bootstrap champion: the frozen arm
    step: Callable[[list[str]], dict[str, Any]]  # the continual flow on batch files

    def week(
        self, number: int, window: Window, path: str, previous: pd.DataFrame, full_retrain: bool
    ) -> WeekRecord:
        """The window's record: each arm's NDCG before the loop learns it, the loop's outcome."""
        from recloop.training.trainer import train_recommender  # torch: only when replaying

        start, end = window.start, window.end
        known = self.events.iloc[: window.hi]
        # next_window_cases tests (t, t + w]: t = start - 1 makes it the window's [start, end)
        # on integer seconds, so events stamped exactly at the window's start are tested too.
        cases = next_window_cases(known, start - 1, end - start)
        # Sorted like the arms' per-user sums (groupby on user id), for the bootstrap.
        users, user_cases = np.unique(cases.user_ids, return_counts=True)
        champion = get_champion(self.settings)
        history = self.events.iloc[: window.lo]
        arms = {
            "continual": self.scorer.score_week(champion.model_uri, cases, 0.0, champion.version),
            "frozen": self.scorer.score_week(
                self.initial.model_uri, cases, 0.0, self.initial.version
            ),
        }
        if full_retrain:
            fresh = train_recommender(self.settings, history, self.dataset.items)
            arms["full_retrain"] = self.scorer.score_week(
                str(fresh.model_dir), cases, fresh.train_seconds
            )
        popular = LastWindowPopularity(history, previous, self.dataset.items[ITEM_COL].to_numpy())
        arms["recent_pop"] = self.scorer.score(popular, cases, 0.0)
        loop_started = time.perf_counter()
        outcome = self.step([path])
        candidate = outcome.get("candidate") or {}
        arms["continual"].train_seconds = float(candidate.get("train_seconds") or 0.0)
        drift = outcome.get("drift") or {}
        return WeekRecord(
            week=number,
            start=iso_date(start),
            end=iso_date(end),
            events=window.events,
            test_cases=len(cases),
            test_users=users.tolist(),
            test_user_cases=user_cases.tolist(),
            arms=arms,
            drift_detected=bool(drift.get("drift_detected", False)),
            drifted_features=list(drift.get("drifted_features", [])),
            retrain=outcome.get("candidate") is not None,
            decision=outcome["status"],
            candidate_version=candidate.get("version"),
            reasons=list(outcome.get("reasons") or []),
            loop_seconds=time.perf_counter() - loop_started,
        )


def _difference(draws: dict[str, np.ndarray], points: dict[str, float], a: str, b: str):
    gap = draws[a] - draws[b]
    low, high = interval(gap)
    return {"diff": points[a] - points[b], "low": low, "high": high, "p_value": two_sided_p(gap)}


def bootstrap_comparison(records: list[WeekRecord], settings: Settings) -> dict[str, Any]:
    """Mean NDCG@10 over the windows for each arm, with bootstrap intervals, and the gaps.

    The statistic is the one the summary reports (each window's NDCG@10 over its cases,
    averaged over windows); the bootstrap resamples users within each window, the same draw
    for every arm, so differences between arms are paired on the very same test events.
    """
    arms = list(records[0].arms)
    sums = {arm: [np.asarray(r.arms[arm].per_user_ndcg_sum) for r in records] for arm in arms}
    counts = [np.asarray(r.test_user_cases, dtype=np.float64) for r in records]
    samples, seed = settings.eval.bootstrap_samples, settings.eval.bootstrap_seed
    draws, points = stratified_bootstrap(sums, counts, samples=samples, seed=seed)
    out: dict[str, Any] = {"unit": "users within each window", "samples": samples}
    for arm in arms:
        low, high = interval(draws[arm])
        out[arm] = {"mean_ndcg@10": points[arm], "low": low, "high": high}
    out["continual_minus_frozen"] = _difference(draws, points, "continual", "frozen")
    if "recent_pop" in arms:
        out["continual_minus_recent_pop"] = _difference(draws, points, "continual", "recent_pop")
    if "full_retrain" in arms:
        ratio = draws["continual"] / np.maximum(draws["full_retrain"], 1e-12)
        low, high = interval(ratio)
        out["continual_over_full_retrain"] = {
            "ratio": points["continual"] / max(points["full_retrain"], 1e-12),
            "low": low,
            "high": high,
        }
    return out
