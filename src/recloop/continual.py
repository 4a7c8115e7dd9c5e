"""One step of the continual loop, as plain functions the ``continual`` flow strings together.

A step looks at what the store holds beyond the champion's training window and decides:

    plan_step      -> which events to learn from, which to hold out for the gate
    check_drift    -> Evidently drift of the new window against the champion's training data
    decide_retrain -> the trigger policy (drift, decay, age, volume)
    train_candidate-> warm start from the champion (or from scratch), register as challenger
    gate_candidate -> champion vs challenger on the same fresh holdout
    conclude       -> promote or reject, recorded in the registry

Only the registry changes (registering the candidate, concluding) hold the registry lock
(``recloop.registry_lock``), for seconds; drift, training and the gate run without it, so
an operator's rollback never waits for a training run. ``conclude`` promotes only while
the champion is still the one the candidate was gated against.

Windows are contiguous: a candidate learns ``[champion.window_end, holdout_start)`` (plus a
replay sample of older events) and is tagged with ``window_end = holdout_start``, so the
held-out newest days are learned by the next step, never lost. A step is idempotent per
data window: its ``run_key`` is tagged on the version it registers, and a repeated or
retried run finds that version instead of training or promoting again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from recloop.columns import TIMESTAMP_COL
from recloop.registry import ModelVersionInfo
from recloop.settings import Settings

if TYPE_CHECKING:
    from recloop.gate import GateDecision

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400
TAG_RUN_KEY = "recloop.run_key"
TrainMode = Literal["full", "incremental"]


@dataclass(frozen=True)
class StepPlan:
    """The data windows of one loop step (Unix seconds, half-open)."""

    mode: TrainMode
    train_start: int | None  # None: from the first event (full training)
    holdout_start: int
    window_end: int
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


@dataclass
class Candidate:
    """A trained and registered challenger."""

    version: str
    model_uri: str
    run_id: str | None
    train_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    reused: bool = False  # found from an earlier run of the same window


@dataclass
class StepOutcome:
    """What one loop step did; the flow's return value and the simulation's record."""

    status: str  # promoted | rejected | no-retrain | no-new-data | already-done
    plan: dict[str, Any] | None = None
    ingest: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None
    candidate: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_batches(settings: Settings, paths: list[str]) -> list[dict[str, Any]]:
    """Ingest batch files in order (items files first, so events find their items)."""
    from recloop.data.ingest import ingest_path
    from recloop.data.readers import infer_kind

    order = {"items": 0, "users": 1, "events": 2}
    ordered = sorted(paths, key=lambda path: order[infer_kind(path)])  # stable: keeps file order
    # The name only orders the files; each file's columns decide its kind.
    return [ingest_path(settings, path).to_dict() for path in ordered]


def plan_step(settings: Settings, mode: TrainMode = "incremental") -> StepPlan | None:
    """Decide the windows of this step, or None when there is nothing new to learn.

    The newest ``loop.holdout_days`` of data are held out for the gate. Without a champion
    the step is a full training (bootstrap); ``mode="full"`` retrains from scratch.
    """
    from recloop.registry import get_champion

    bounds = _event_bounds(settings)
    if bounds is None:
        return None
    first, window_end = bounds
    champion = get_champion(settings)
    holdout_start = int(window_end - settings.loop.holdout_days * DAY_SECONDS)
    if champion is None or mode == "full":
        if holdout_start <= first:
            return None
        return StepPlan("full", None, holdout_start, window_end, champion)
    train_start = champion.window_end or first
    if holdout_start <= train_start:
        return None  # the new data does not yet cover a training part and a holdout
    return StepPlan("incremental", train_start, holdout_start, window_end, champion)


def _event_bounds(settings: Settings) -> tuple[int, int] | None:
    """First event time and one past the last, from the store (None when empty)."""
    import sqlalchemy as sa

    from recloop.data import schema
    from recloop.data.store import open_store

    column = schema.events.c[TIMESTAMP_COL]
    with open_store(settings).connect() as connection:
        first, last = connection.execute(sa.select(sa.func.min(column), sa.func.max(column))).one()
    return None if first is None else (int(first), int(last) + 1)


def recorded_outcome(settings: Settings, plan: StepPlan) -> Candidate | None:
    """The version an earlier run of this same window registered, if any."""
    from mlflow import MlflowClient

    from recloop.tracking import configure_mlflow

    configure_mlflow(settings)
    name = settings.registry.model_name
    found = MlflowClient().search_model_versions(
        f"name = '{name}' and tags.`{TAG_RUN_KEY}` = '{plan.run_key}'"
    )
    if not found:
        return None
    mv = max(found, key=lambda v: int(v.version))
    return Candidate(str(mv.version), f"models:/{name}/{mv.version}", mv.run_id, 0.0, reused=True)


def window_events(settings: Settings, start: int | None, end: int | None) -> pd.DataFrame:
    """Events of ``[start, end)`` from the store."""
    from recloop.data.store import load_events

    return load_events(settings, start, end)


def check_drift(settings: Settings, plan: StepPlan, items: pd.DataFrame):
    """Drift of the new window against the champion's training window (or all before it)."""
    from recloop.drift.detect import run_drift_check

    new_start = plan.train_start if plan.train_start is not None else plan.holdout_start
    parent = plan.parent
    ref_start = parent.window_start if parent else None
    reference = window_events(settings, ref_start, new_start)
    current = window_events(settings, new_start, plan.window_end)
    if reference.empty or current.empty:
        return None
    return run_drift_check(
        settings,
        reference,
        current,
        items,
        champion=parent,
        reference_window=(int(reference[TIMESTAMP_COL].min()), new_start),
        current_window=(new_start, plan.window_end),
    )


def train_candidate(
    settings: Settings, plan: StepPlan, items: pd.DataFrame, batch_ids: list[str]
) -> Candidate:
    """Train on the plan's window (warm start + replay when incremental) and register it."""
    import mlflow

    from recloop.registry import CandidateLineage, register_candidate, set_version_tags
    from recloop.tracking import configure_mlflow
    from recloop.training.trainer import train_recommender

    events = window_events(settings, plan.train_start, plan.holdout_start)
    replay = None
    init_from = None
    if plan.mode == "incremental" and plan.parent is not None:
        init_from = plan.parent.model_uri
        replay = window_events(settings, None, plan.train_start)
    result = train_recommender(
        settings, events, items, init_from=init_from, replay_events=replay, show_progress=True
    )
    lineage = CandidateLineage(
        train_mode=plan.mode,
        window_start=plan.train_start if plan.mode == "incremental" else _first(events),
        window_end=plan.holdout_start,
        encoder_mode=settings.train.encoder_mode,
        batch_ids=tuple(batch_ids),
        parent_version=plan.parent.version if plan.parent else None,
    )
    configure_mlflow(settings)
    with mlflow.start_run(run_name=f"{plan.mode}-{plan.holdout_start}"):
        mlflow.log_metrics(
            {"train_seconds": result.train_seconds, "new_item_boost": result.new_item_boost}
        )
        registered = register_candidate(
            settings,
            result.model_dir,
            lineage,
            train_events=events,
            metrics={f"valid_{k}": v for k, v in result.metrics.items()},
            params={"epochs": result.epochs, "run_key": plan.run_key},
        )
    set_version_tags(settings, registered.version, {TAG_RUN_KEY: plan.run_key})
    return Candidate(
        registered.version,
        registered.model_uri,
        registered.run_id,
        result.train_seconds,
        dict(result.metrics),
    )


def _first(events: pd.DataFrame) -> int | None:
    return int(events[TIMESTAMP_COL].min()) if len(events) else None


def holdout_cases(settings: Settings, plan: StepPlan):
    """Next-item cases of the held-out newest days, ranked from all earlier history."""
    from recloop.evaluation.protocols import next_window_cases

    events = window_events(settings, None, plan.window_end)
    return next_window_cases(events, plan.holdout_start, plan.window_end - plan.holdout_start)


def gate_candidate(settings: Settings, plan: StepPlan, candidate: Candidate, items: pd.DataFrame):
    """Champion and challenger on the same fresh holdout; returns the gate's decision."""
    from recloop.gate import evaluate_gate

    champion_uri = plan.parent.model_uri if plan.parent else None
    return evaluate_gate(
        settings, candidate.model_uri, champion_uri, holdout_cases(settings, plan), items=items
    )


def conclude(
    settings: Settings, plan: StepPlan, candidate: Candidate, decision: GateDecision
) -> tuple[str, GateDecision]:
    """Record the decision and promote a passing candidate; returns (status, decision).

    Training and the gate run without the registry lock, so the champion may move
    meanwhile (an operator's rollback, another deployment's step). Under the lock, a
    passing decision promotes only while the champion is still the one it was gated
    against; otherwise it is recorded as rejected with that reason (the returned decision
    is the one recorded), and the next step starts from the new champion. A retry after a
    successful promotion finds the candidate already champion and changes nothing.
    """
    from recloop.gate import apply_decision
    from recloop.registry import get_champion
    from recloop.registry_lock import registry_lock

    gated_against = plan.parent.version if plan.parent else None
    with registry_lock(settings):
        champion = get_champion(settings)
        current = champion.version if champion else None
        if current == candidate.version:
            return "promoted", decision
        if decision.passed and current != gated_against:
            decision = superseded(decision, gated_against, current)
        entry = apply_decision(settings, candidate.version, decision)
    return ("promoted" if entry is not None else "rejected"), decision


def superseded(decision: GateDecision, gated_against: str | None, current: str | None):
    """A passing decision turned into a rejection: its champion is no longer the champion."""
    from dataclasses import replace

    from recloop.gate import Check, render_markdown

    reason = (
        f"the champion changed from version {gated_against or 'none'} to "
        f"{current or 'none'} while this candidate was trained and gated; not promoted"
    )
    check = Check("champion_unchanged", "error", False, detail=reason)
    rejected = replace(
        decision,
        passed=False,
        reasons=[*decision.reasons, reason],
        checks=[*decision.checks, check],
    )
    rejected.markdown = render_markdown(rejected, "Promotion gate (superseded)")
    return rejected


def decision_of(settings: Settings, candidate: Candidate) -> str | None:
    """The gate decision recorded on a candidate's version (None: never gated)."""
    from recloop.registry import TAG_GATE_DECISION, get_version

    return get_version(settings, candidate.version).tags.get(TAG_GATE_DECISION)


def new_event_count(settings: Settings, plan: StepPlan) -> int:
    """Events the champion has not learned (everything when there is no champion)."""
    return len(window_events(settings, plan.train_start, plan.window_end))


def decide_retrain(settings: Settings, plan: StepPlan, drift_result, new_events: int):
    """The trigger policy: retrain on drift, relevance decay, champion age or data volume.

    The champion's age is read on the data clock (now = the newest event, born = the end
    of its training window), so a replay of history triggers exactly as a live run would.
    Without a champion the step always trains; a full retrain is an explicit request.
    """
    from recloop.drift.triggers import TriggerDecision
    from recloop.drift.triggers import decide_retrain as policy_decision

    if plan.mode == "full" and plan.parent is not None:
        return TriggerDecision(True, ["full retrain requested"], {"new_events": new_events})
    return policy_decision(
        settings,
        drift=drift_result,
        champion_created_at=plan.parent.window_end if plan.parent else None,
        new_events=new_events,
        now=plan.window_end,
        has_champion=plan.parent is not None,
    )


def inbox_files(settings: Settings) -> list[str]:
    """Batch files waiting in ``<home>/inbox`` (ingest skips those already stored)."""
    inbox = settings.home_dir / "inbox"
    if not inbox.is_dir():
        return []
    suffixes = {".csv", ".parquet", ".tsv", ".dat"}
    return [str(p) for p in sorted(inbox.iterdir()) if p.suffix.lower() in suffixes]


def send_alerts(settings: Settings, outcome: StepOutcome, drift_result, trigger) -> None:
    """Drift alert (deduplicated by the notifier's cooldown) and the step's gate decision.

    Delivery problems are logged by the notifier and never fail the step.
    """
    from recloop.notify import notify_drift, send_alert

    if drift_result is not None and drift_result.drift_detected:
        notify_drift(settings, drift_result, trigger, now=outcome_clock(outcome))
    if outcome.status in ("promoted", "rejected"):
        version = (outcome.candidate or {}).get("version")
        title = f"recloop: candidate version {version} {outcome.status}"
        body = "\n".join(outcome.reasons) or "every gate check passed"
        level = "info" if outcome.status == "promoted" else "warning"
        send_alert(settings, title, body, level=level)


def outcome_clock(outcome: StepOutcome) -> float | None:
    """The step's data clock (its newest event), for alert cooldowns in replays."""
    return float(outcome.plan["window_end"]) if outcome.plan else None


def as_dict(value: Any) -> dict[str, Any] | None:
    """A dataclass (or object with ``to_dict``) as a JSON-ready dict."""
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return asdict(value)
