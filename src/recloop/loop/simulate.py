"""Replay simulation: run the real continual flow week by week over a dataset's history.

It answers the question an operator asks before adopting the loop: on real history, does
continual retraining beat a model that is never retrained, and how close does cheap
incremental fine-tuning come to retraining from scratch every week?

    recloop simulate movielens-100k --bootstrap-weeks 20 --weeks 10

1. The first ``bootstrap_weeks`` of events (plus the catalogs) go through the ``continual``
   flow: with no champion it trains from scratch and the bootstrap gate rule promotes it.
2. Each following week is first *scored* by three arms, before anyone learns from it
   (next-window protocol: every event is a test case ranked from the user's earlier events):
   ``continual`` (the registry's champion at that moment), ``frozen`` (the initial model) and
   ``full_retrain`` (a model trained from scratch on everything before the week).
3. Then the week's batch file goes through the ``continual`` flow: ingest, validate, drift,
   trigger, incremental fine-tune, gate, promote or reject.

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

from recloop.clock import SECONDS_PER_DAY, iso_date
from recloop.columns import TIMESTAMP_COL
from recloop.data.readers import Dataset, read_dataset
from recloop.errors import UnusableInputError
from recloop.evaluation.harness import evaluate_scorer
from recloop.evaluation.protocols import EvalCases, next_window_cases
from recloop.evaluation.significance import interval, stratified_bootstrap, two_sided_p
from recloop.loop.simulation_report import ArmWeek, WeekRecord, summarize, write_report
from recloop.registry import ModelVersionInfo, get_champion
from recloop.serving import load_recommender
from recloop.serving.recommender import Recommender
from recloop.settings import Settings

WEEK_SECONDS = 7 * SECONDS_PER_DAY


@dataclass
class Batches:
    """The batch files the replay feeds to the flow."""

    bootstrap: list[str]
    weekly: list[tuple[int, int, str]]  # (start, end, path)


def write_batches(dataset: Dataset, out_dir: Path, bootstrap_weeks: int, weeks: int) -> Batches:
    """Cut the history into a bootstrap batch and weekly batch files (canonical CSV)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    events = dataset.events
    t0 = int(events[TIMESTAMP_COL].min())
    cut = t0 + bootstrap_weeks * WEEK_SECONDS
    bootstrap = []
    for name, frame in (("items.csv", dataset.items), ("users.csv", dataset.users)):
        if frame is not None:
            frame.to_csv(out_dir / name, index=False)
            bootstrap.append(str(out_dir / name))
    boot = out_dir / "events-bootstrap.csv"
    events[events[TIMESTAMP_COL] < cut].to_csv(boot, index=False)
    bootstrap.append(str(boot))
    weekly = []
    last = int(events[TIMESTAMP_COL].max()) + 1
    for w in range(weeks):
        start, end = cut + w * WEEK_SECONDS, min(cut + (w + 1) * WEEK_SECONDS, last)
        if start >= last:
            break
        path = out_dir / f"events-week-{w + 1:02d}.csv"
        events[(events[TIMESTAMP_COL] >= start) & (events[TIMESTAMP_COL] < end)].to_csv(
            path, index=False
        )
        weekly.append((start, end, str(path)))
    if not weekly:
        raise UnusableInputError(
            f"no events after the {bootstrap_weeks}-week bootstrap period: use fewer weeks"
        )
    return Batches(bootstrap, weekly)


class ArmScorer:
    """Evaluates models on a week and caches loaded models by URI."""

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
        result = evaluate_scorer(self.model(uri_or_dir), cases, k=10, items=self.items)
        per_user = result.per_user.groupby("user_id")["ndcg@10"].sum().sort_index()
        return ArmWeek(
            ndcg=float(result.metrics["ndcg@10"]),
            coverage=float(result.metrics["coverage@10"]),
            train_seconds=train_seconds,
            version=version,
            per_user_ndcg_sum=per_user.to_numpy(dtype=float).tolist(),
        )


def run_simulation(
    settings: Settings,
    dataset_dir: Path,
    *,
    bootstrap_weeks: int,
    weeks: int,
    full_retrain: bool = True,
    on_week: Callable[[WeekRecord], None] | None = None,
) -> dict[str, Any]:
    """Replay ``weeks`` weeks after a ``bootstrap_weeks`` warm-up; returns the summary.

    Args:
        settings: the simulation's workspace (wiped first).
        dataset_dir: a dataset directory in any layout ``read_dataset`` knows.
        bootstrap_weeks: weeks of history the initial model learns.
        weeks: weeks replayed through the loop.
        full_retrain: also train the from-scratch arm each week (the costly comparison).
        on_week: called after each replayed week (progress display).
    """
    from recloop.loop.flows import continual  # prefect: imported when a simulation runs

    overrides = settings.loop.simulation_overrides()
    settings = settings.with_overrides(overrides)
    shutil.rmtree(settings.home_dir, ignore_errors=True)
    settings.home_dir.mkdir(parents=True, exist_ok=True)
    dataset = read_dataset(dataset_dir)
    batches = write_batches(dataset, settings.home_dir / "batches", bootstrap_weeks, weeks)

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
    }
    replay = WeekReplay(settings, dataset, ArmScorer(settings, dataset.items), initial, step)
    records: list[WeekRecord] = []
    for index, (start, end, path) in enumerate(batches.weekly, start=1):
        record = replay.week(bootstrap_weeks + index, start, end, path, full_retrain)
        records.append(record)
        if on_week is not None:
            on_week(record)
    out_dir = settings.reports_dir / "simulation"
    boot = bootstrap_comparison(records, settings)
    summary = summarize(records, boot, out_dir / "report.html", bootstrap_info)
    write_report(summary, records, out_dir)
    return summary


@dataclass
class WeekReplay:
    """One replayed week: score the arms on it first, then feed it to the loop's flow."""

    settings: Settings
    dataset: Dataset
    scorer: ArmScorer
    initial: ModelVersionInfo  # the bootstrap champion: the frozen arm
    step: Callable[[list[str]], dict[str, Any]]  # the continual flow on batch files

    def week(self, number: int, start: int, end: int, path: str, full_retrain: bool):
        """The week's record: each arm's NDCG before the loop learns it, the loop's outcome."""
        from recloop.training.trainer import train_recommender  # torch: only when replaying

        events = self.dataset.events
        cases = next_window_cases(events[events[TIMESTAMP_COL] < end], start, end - start)
        # Sorted like the arms' per-user sums (groupby on user id), for the bootstrap.
        users, user_cases = np.unique(cases.user_ids, return_counts=True)
        champion = get_champion(self.settings)
        arms = {
            "continual": self.scorer.score_week(champion.model_uri, cases, 0.0, champion.version),
            "frozen": self.scorer.score_week(
                self.initial.model_uri, cases, 0.0, self.initial.version
            ),
        }
        if full_retrain:
            history = events[events[TIMESTAMP_COL] < start]
            fresh = train_recommender(self.settings, history, self.dataset.items)
            arms["full_retrain"] = self.scorer.score_week(
                str(fresh.model_dir), cases, fresh.train_seconds
            )
        loop_started = time.perf_counter()
        outcome = self.step([path])
        candidate = outcome.get("candidate") or {}
        arms["continual"].train_seconds = float(candidate.get("train_seconds") or 0.0)
        drift = outcome.get("drift") or {}
        return WeekRecord(
            week=number,
            start=iso_date(start),
            end=iso_date(end),
            events=int(((events[TIMESTAMP_COL] >= start) & (events[TIMESTAMP_COL] < end)).sum()),
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


def bootstrap_comparison(records: list[WeekRecord], settings: Settings) -> dict[str, Any]:
    """Mean NDCG@10 over the weeks for each arm, with bootstrap intervals, and the gaps.

    The statistic is the one the summary reports (each week's NDCG@10 over its cases,
    averaged over weeks); the bootstrap resamples users within each week, the same draw
    for every arm, so differences between arms are paired on the very same test events.
    """
    arms = list(records[0].arms)
    sums = {arm: [np.asarray(r.arms[arm].per_user_ndcg_sum) for r in records] for arm in arms}
    counts = [np.asarray(r.test_user_cases, dtype=np.float64) for r in records]
    samples, seed = settings.eval.bootstrap_samples, settings.eval.bootstrap_seed
    draws, points = stratified_bootstrap(sums, counts, samples=samples, seed=seed)
    out: dict[str, Any] = {"unit": "users within each week", "samples": samples}
    for arm in arms:
        low, high = interval(draws[arm])
        out[arm] = {"mean_ndcg@10": points[arm], "low": low, "high": high}
    gap = draws["continual"] - draws["frozen"]
    low, high = interval(gap)
    out["continual_minus_frozen"] = {
        "diff": points["continual"] - points["frozen"],
        "low": low,
        "high": high,
        "p_value": two_sided_p(gap),
    }
    if "full_retrain" in arms:
        ratio = draws["continual"] / np.maximum(draws["full_retrain"], 1e-12)
        low, high = interval(ratio)
        out["continual_over_full_retrain"] = {
            "ratio": points["continual"] / max(points["full_retrain"], 1e-12),
            "low": low,
            "high": high,
        }
    return out
