"""The stages of one loop step, as plain functions over a :class:`~recloop.loop.plan.StepPlan`.

    check_drift     -> Evidently drift of the new window against the champion's training data
                       (its MLflow run in the drift experiment, tagged with the champion)
    decide_retrain  -> the trigger policy (drift, decay, age on the data clock, volume)
    train_candidate -> warm start from the champion (or from scratch), register as challenger
    gate_candidate  -> champion vs challenger on the same fresh holdout
    conclude        -> promote or reject, recorded in the registry
    send_alerts     -> the drift alert and the gate's verdict

``recloop.loop.step.run_step`` strings them together (the state machine); the ``continual``
flow runs each as a Prefect task. Only the registry changes (registering the candidate,
concluding) hold the registry lock (``recloop.registry.lock``), for seconds; drift,
training and the gate run without it, so an operator's rollback never waits for a training
run. ``conclude`` promotes only while the champion is still the one the candidate was
gated against.
"""

from __future__ import annotations

import pandas as pd

from recloop.columns import TIMESTAMP_COL
from recloop.data.store import load_user_histories
from recloop.drift import DriftResult, TriggerDecision, run_drift_check
from recloop.drift import decide_retrain as policy_decision
from recloop.errors import RecloopError
from recloop.gate import GateDecision, apply_decision, evaluate_gate, superseded
from recloop.loop.outcome import StepStatus
from recloop.loop.plan import StepPlan, holdout_cases, older_events, window_events
from recloop.loop.provenance import current_flow_run, drift_run, find_drift_run
from recloop.loop.train import (
    Candidate,
    TrainingJob,
    train_and_register,
    training_params,
    window_batches,
)
from recloop.notify import NextStep, notify_drift, send_alert
from recloop.registry import (
    TAG_GATE_DECISION,
    TAG_RUN_KEY,
    CandidateLineage,
    find_versions,
    get_champion,
    get_version,
    registry_lock,
)
from recloop.settings import Settings


def check_drift(settings: Settings, plan: StepPlan, items: pd.DataFrame) -> DriftResult | None:
    """Drift of the new window against the champion's training window (or all before it).

    The reference is at most the newest ``drift.max_reference_events`` events of it.
    """
    new_start = plan.train_start if plan.train_start is not None else plan.holdout_start
    parent = plan.parent
    ref_start = parent.window_start if parent else None
    reference = older_events(settings, ref_start, new_start, settings.drift.max_reference_events)
    current = window_events(settings, new_start, plan.window_end)
    if reference.empty or current.empty:
        return None
    with drift_run(settings, plan, new_start):
        return run_drift_check(
            settings,
            reference,
            current,
            items,
            champion=parent,
            reference_window=(int(reference[TIMESTAMP_COL].min()), new_start),
            current_window=(new_start, plan.window_end),
        )


def decide_retrain(
    settings: Settings, plan: StepPlan, drift_result: DriftResult | None, new_events: int
) -> TriggerDecision:
    """The trigger policy: retrain on drift, relevance decay, champion age or data volume.

    The champion's age is read on the data clock (``recloop.clock``): now is the step's
    newest event, its birth the end of its training window. Without a champion the step
    always trains; a full retrain is an explicit request.
    """
    if plan.mode == "full" and plan.parent is not None:
        return TriggerDecision(True, ["full retrain requested"], {"new_events": new_events})
    return policy_decision(
        settings,
        drift=drift_result,
        champion_window_end=plan.parent.window_end if plan.parent else None,
        data_end=plan.window_end,
        new_events=new_events,
        has_champion=plan.parent is not None,
    )


def recorded_outcome(settings: Settings, plan: StepPlan) -> Candidate | None:
    """The version an earlier run of this same window registered, if any."""
    found = find_versions(settings, TAG_RUN_KEY, plan.run_key)
    if not found:
        return None
    newest = found[-1]
    return Candidate(newest.version, newest.model_uri, newest.run_id, 0.0, reused=True)


def decision_of(settings: Settings, candidate: Candidate) -> str | None:
    """The gate decision recorded on a candidate's version (None: never gated)."""
    return get_version(settings, candidate.version).tags.get(TAG_GATE_DECISION)


def train_candidate(
    settings: Settings, plan: StepPlan, items: pd.DataFrame, batch_ids: list[str]
) -> Candidate:
    """Train on the plan's window (warm start + replay when incremental) and register it."""
    events = window_events(settings, plan.train_start, plan.holdout_start)
    replay = None
    init_from = None
    if plan.mode == "incremental" and plan.parent is not None:
        init_from = plan.parent.model_uri
        replay = replay_events(settings, plan)
    window_start = plan.train_start if plan.mode == "incremental" else _first(events)
    batches = window_batches(settings, window_start, plan.holdout_start)
    drift = find_drift_run(settings, plan)
    flow_run = current_flow_run(settings)
    lineage = CandidateLineage(
        train_mode=plan.mode,
        window_start=window_start,
        window_end=plan.holdout_start,
        encoder_mode=settings.train.encoder_mode,
        batch_ids=tuple(dict.fromkeys([*batch_ids, *(b["batch_id"] for b in batches)])),
        parent_version=plan.parent.version if plan.parent else None,
        run_key=plan.run_key,
        batches=tuple(batches),
        events=len(events),
        **drift,
        **flow_run,
    )
    job = TrainingJob(
        events,
        items,
        lineage,
        init_from=init_from,
        replay_events=replay,
        params=training_params(settings, plan.mode, init_from, run_key=plan.run_key),
    )
    candidate = train_and_register(settings, job, show_progress=True)
    if candidate is None:
        raise RecloopError("the continual loop trains in one process; run it without a launcher")
    return candidate


def replay_events(settings: Settings, plan: StepPlan) -> pd.DataFrame:
    """Older events for incremental training: context and replay pool, bounded.

    The window's users' whole histories (their context: training reads a user with their
    past) plus the newest ``loop.max_history_events`` older events (the pool replayed
    windows are drawn from), deduplicated, in time order. Never the whole stored history.
    """
    start, end = int(plan.train_start or 0), plan.holdout_start
    context = load_user_histories(settings, start, end, start)
    recent = older_events(settings, None, start)
    both = pd.concat([recent, context], ignore_index=True).drop_duplicates("event_id")
    return both.sort_values([TIMESTAMP_COL, "event_id"], kind="stable").reset_index(drop=True)


def _first(events: pd.DataFrame) -> int | None:
    return int(events[TIMESTAMP_COL].min()) if len(events) else None


def gate_candidate(
    settings: Settings, plan: StepPlan, candidate: Candidate, items: pd.DataFrame
) -> GateDecision:
    """Champion and challenger on the same fresh holdout; returns the gate's decision."""
    champion_uri = plan.parent.model_uri if plan.parent else None
    return evaluate_gate(
        settings, candidate.model_uri, champion_uri, holdout_cases(settings, plan), items=items
    )


def conclude(
    settings: Settings, plan: StepPlan, candidate: Candidate, decision: GateDecision
) -> tuple[StepStatus, GateDecision]:
    """Record the decision and promote a passing candidate; returns (status, decision).

    Training and the gate run without the registry lock, so the champion may move
    meanwhile (an operator's rollback, another deployment's step). Under the lock, a
    passing decision promotes only while the champion is still the one it was gated
    against; otherwise it is recorded as rejected with that reason (the returned decision
    is the one recorded), and the next step starts from the new champion. A retry after a
    successful promotion finds the candidate already champion and changes nothing.
    """
    gated_against = plan.parent.version if plan.parent else None
    with registry_lock(settings):
        champion = get_champion(settings)
        current = champion.version if champion else None
        if current == candidate.version:
            return StepStatus.PROMOTED, decision
        if decision.passed and current != gated_against:
            decision = superseded(decision, gated_against, current)
        entry = apply_decision(settings, candidate.version, decision)
    status = StepStatus.PROMOTED if entry is not None else StepStatus.REJECTED
    return status, decision


def send_alerts(
    settings: Settings,
    *,
    drift_result: DriftResult | None,
    trigger: TriggerDecision | None,
    data_end: int | None,
    verdict: tuple[str, Candidate, list[str]] | None = None,
) -> None:
    """Drift alert (deduplicated by the notifier's cooldown) and the step's gate verdict.

    ``data_end`` is the step's data clock (its newest event), for alert cooldowns in
    replays; ``verdict`` is (status, candidate, reasons) once the gate concluded.
    Delivery problems are logged by the notifier and never fail the step.
    """
    if drift_result is not None and drift_result.drift_detected:
        retrains = trigger is not None and trigger.should_retrain
        step = NextStep(
            "this loop step retrains now; its verdict follows in a separate message"
            if retrains
            else "nothing; the trigger policy found no reason to retrain"
        )
        notify_drift(settings, drift_result, trigger, now=data_end, next_step=step)
    if verdict is not None:
        status, candidate, reasons = verdict
        title = f"recloop: candidate version {candidate.version} {status}"
        body = "\n".join(reasons) or "every gate check passed"
        level = "info" if status == "promoted" else "warning"
        send_alert(settings, title, body, level=level)
