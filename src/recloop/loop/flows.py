"""The Prefect flows, shipped with the library: ``continual``, ``ingest_flow``, ``monitor``.

Each flow is thin: its tasks wrap library functions and the flow decides what is Prefect's
(retries, what is shown in the UI, events). ``flows/*.py`` at the top of the repository are
the deployment entry points ``flows/prefect.yaml`` names; they only re-export these.

- ``continual``: one loop step (``recloop.loop.step.run_step``) with each stage a task.
  What the step did shows in the Prefect UI (texts from ``recloop.loop.step_summary``):
  the run is renamed after its window once planned and after its outcome at the end
  (``incremental 1998-02-14..1998-02-21 · promoted v3``, tags ``mode:``/``outcome:``),
  the final state's message is the outcome, the ``continual-step`` Markdown artifact tells
  the step with links (beside ``gate-decision`` and the ``recloop-drift`` summary), and
  each stage logs one line. The registry changes (registering the candidate,
  promote-or-reject) take the registry lock in the event store themselves
  (``recloop.registry.lock``), for seconds, with or without a Prefect server.
- ``ingest_flow``: validate and store batch files (catalogs first; by default whatever
  waits in the inbox, filed away afterwards); retries only transient database errors, bad
  data is quarantined by the library and never retried. When new rows were stored it
  emits ``recloop.batch.ingested``.
- ``monitor``: one drift check of the newest window (``recloop.loop.monitor.check_store``),
  its summary as an artifact, the verdict in the run's name, tag and state message, the
  Prefect event ``recloop.drift.detected`` when drift is found, then the alert, which
  names the retrain that event triggered (``events.py``).

``flows/prefect.yaml`` turns the two events into runs of the continual deployment with
Prefect's deployment triggers (debounced, one run at a time); the crons stay as a safety net.
Run once without a server (Prefect starts a temporary API): ``python flows/continual.py
batch.csv``; as deployments, see ``flows/prefect.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from recloop.data.store import load_items
from recloop.drift import DriftResult, TriggerDecision
from recloop.drift.report import summary_markdown
from recloop.gate import GateDecision
from recloop.loop import stages, step_summary
from recloop.loop.events import BATCH_EVENT, DRIFT_EVENT, emit, next_step
from recloop.loop.inbox import STORED_STATUSES
from recloop.loop.ingest import ingest_batches, ingest_one, ingest_order
from recloop.loop.monitor import MonitorOutcome, check_store, parse_window
from recloop.loop.orchestration import label_flow_run, publish_markdown
from recloop.loop.plan import StepPlan, inbox_files, new_event_count, plan_step
from recloop.loop.step import Stages, StepOutcome, StepStatus, run_step, send_step_alerts
from recloop.loop.train import Candidate
from recloop.notify import notify_drift
from recloop.settings import Settings

# Transient failures (a locked SQLite file, a dropped PostgreSQL connection, an MLflow
# server restart) are retried; the work itself is idempotent per batch and per window.
RETRIES = {"retries": 2, "retry_delay_seconds": [5, 30], "cache_policy": NO_CACHE}
__all__ = ["BATCH_EVENT", "DRIFT_EVENT", "continual", "ingest_flow", "monitor"]


# ---- continual -------------------------------------------------------------------------


@task(name="ingest-batches", **RETRIES)
def ingest_task(settings: Settings, paths: list[str]):
    return ingest_batches(settings, paths)


@task(name="plan-step", **RETRIES)
def plan_task(settings: Settings, mode: str) -> StepPlan | None:
    return plan_step(settings, mode)  # type: ignore[arg-type]


@task(name="load-catalog", **RETRIES)
def catalog_task(settings: Settings) -> pd.DataFrame:
    return load_items(settings)


@task(name="check-drift", cache_policy=NO_CACHE)
def drift_task(settings: Settings, plan: StepPlan, items: pd.DataFrame) -> DriftResult | None:
    return stages.check_drift(settings, plan, items)


@task(name="decide-retrain", cache_policy=NO_CACHE)
def trigger_task(
    settings: Settings, plan: StepPlan, drift: DriftResult | None, new_events: int
) -> TriggerDecision:
    return stages.decide_retrain(settings, plan, drift, new_events)


@task(name="train-candidate", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def train_task(
    settings: Settings, plan: StepPlan, items: pd.DataFrame, batch_ids: list[str]
) -> Candidate:
    return stages.train_candidate(settings, plan, items, batch_ids)


@task(name="gate-candidate", cache_policy=NO_CACHE)
def gate_task(
    settings: Settings, plan: StepPlan, candidate: Candidate, items: pd.DataFrame
) -> GateDecision:
    return stages.gate_candidate(settings, plan, candidate, items)


@task(name="promote-or-reject", **RETRIES)
def conclude_task(
    settings: Settings, plan: StepPlan, candidate: Candidate, decision: GateDecision
) -> tuple[StepStatus, GateDecision]:
    return stages.conclude(settings, plan, candidate, decision)


@task(name="notify", cache_policy=NO_CACHE)
def notify_task(settings: Settings, outcome: StepOutcome) -> None:
    send_step_alerts(settings, outcome)


class TaskStages(Stages):
    """The step's stages as Prefect tasks (the cheap registry look-ups stay plain calls).

    Each stage's result is also told in the run's log (``step_summary``'s lines), and the
    run is renamed after its window as soon as the plan is known.
    """

    def ingest(self, settings, paths):
        reports = ingest_task(settings, paths)
        _log_lines(step_summary.ingest_lines(reports))
        return reports

    def plan(self, settings, mode):
        plan = plan_task(settings, mode)
        _log_lines([step_summary.plan_line(plan)])
        if plan is not None:
            label_flow_run(step_summary.plan_label(plan), step_summary.run_tags(plan.mode))
        return plan

    def catalog(self, settings):
        return catalog_task(settings)

    def recorded(self, settings, plan):
        candidate = super().recorded(settings, plan)
        if candidate is not None:
            _log_lines([step_summary.candidate_line(candidate)])
        return candidate

    def drift(self, settings, plan, items):
        result = drift_task(settings, plan, items)
        _log_lines([step_summary.drift_line(result)])
        return result

    def trigger(self, settings, plan, drift):
        decision = trigger_task(settings, plan, drift, new_event_count(settings, plan))
        _log_lines([step_summary.trigger_line(decision)])
        return decision

    def train(self, settings, plan, items, batch_ids):
        candidate = train_task(settings, plan, items, batch_ids)
        _log_lines([step_summary.candidate_line(candidate)])
        return candidate

    def gate(self, settings, plan, candidate, items):
        return gate_task(settings, plan, candidate, items)

    def conclude(self, settings, plan, candidate, decision):
        return conclude_task(settings, plan, candidate, decision)

    def notify(self, settings, outcome):
        notify_task(settings, outcome)


def _log_lines(lines: list[str]) -> None:
    logger = get_run_logger()
    for line in lines:
        logger.info("%s", line)


def publish_step(settings: Settings, outcome: StepOutcome, mode: str) -> None:
    """The step's outcome in the UI: the run's name and tags, its artifacts, its log."""
    if outcome.gate is not None:
        _log_lines([step_summary.gate_line(outcome)])
        verdict = "passed" if outcome.gate.passed else "rejected"
        version = outcome.candidate.version if outcome.candidate else "?"
        publish_markdown(
            outcome.gate.markdown,
            key="gate-decision",
            description=f"Promotion gate: v{version} {verdict}",
        )
    if outcome.drift is not None:
        publish_markdown(
            summary_markdown(outcome.drift, outcome.trigger),
            key="recloop-drift",
            description=f"drift check: {step_summary.drift_verdict(outcome.drift)}",
        )
    name = step_summary.run_name(outcome, mode)
    publish_markdown(
        step_summary.step_markdown(outcome, step_summary.step_links(settings, outcome), mode),
        key=step_summary.ARTIFACT_KEY,
        description=name,
    )
    run_mode = outcome.plan.mode if outcome.plan else mode
    label_flow_run(name, step_summary.run_tags(run_mode, outcome.status))
    _log_lines([f"step outcome: {step_summary.state_message(outcome)}"])


@flow(name="continual", log_prints=True)
def continual(
    paths: list[str] | None = None,
    mode: str = "incremental",
    home: str | None = None,
    overrides: dict[str, Any] | None = None,
    trigger: str | None = None,
) -> dict[str, Any]:
    """One continual-loop step over whatever new data the store (and ``paths``) hold.

    Args:
        paths: batch files to ingest first (default: every file in ``<home>/inbox``).
        mode: "incremental" (warm start from the champion) or "full" (from scratch).
        home: workspace (default: ``RECLOOP_HOME``).
        overrides: settings for this run only, e.g. ``{"train": {"epochs": 12}}``.
        trigger: why this run exists, set by the deployment triggers as "<event name>
            <event id>" (None: a schedule or a person started it); logged and returned.

    Returns:
        dict: the step's outcome (status, plan, ingest, drift, trigger, candidate, gate).
        The flow returns it inside a Completed state whose message is the outcome
        (``promoted v3 (incremental 1998-02-14..1998-02-21)``); a plain call still
        returns the dict, ``return_state=True`` the state (``state.result()``: the dict).
    """
    get_run_logger().info("started by %s", trigger or "a schedule or by hand")
    settings = (Settings(home=Path(home)) if home else Settings()).with_overrides(overrides)
    batches = paths if paths is not None else inbox_files(settings)
    outcome = run_step(settings, batches, mode, TaskStages())  # type: ignore[arg-type]
    publish_step(settings, outcome, mode)
    result = {**outcome.to_dict(), "trigger": trigger}
    # The outcome is the final state's message; a caller still gets the dict (a plain call
    # returns it, ``return_state=True`` gives the state and ``state.result()`` the dict).
    state = Completed(message=step_summary.state_message(outcome), data=result)
    return state  # type: ignore[return-value]


# ---- ingest ----------------------------------------------------------------------------


def is_transient_db_error(task, task_run, state) -> bool:
    """Retry only errors a second attempt can fix: disconnects, locks, timeouts."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        state.result()
    except OperationalError:
        return True
    except DBAPIError as exc:
        return bool(exc.connection_invalidated)
    except Exception:
        return False
    return False


@task(
    retries=3,
    retry_delay_seconds=[1, 5, 15],
    retry_condition_fn=is_transient_db_error,
    cache_policy=NO_CACHE,
)
def ingest_batch(settings: Settings, path: str) -> dict[str, Any] | None:
    """Ingest one file (its columns decide its kind); returns the batch report as a dict
    (None for an inbox file that was no batch, or that another run filed first)."""
    report = ingest_one(settings, path)
    return None if report is None else report.to_dict()


@flow(name="recloop-ingest", log_prints=True)
def ingest_flow(
    paths: list[str] | None = None, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """Ingest ``paths`` (default: the inbox) in a safe order: catalogs first so events find
    their items. When any batch stored rows, emits one ``recloop.batch.ingested`` event,
    which the continual deployment's trigger turns into a run."""
    settings = settings or Settings()
    logger = get_run_logger()
    reports = []
    for path in ingest_order(paths if paths is not None else inbox_files(settings)):
        report = ingest_batch(settings, path)
        if report is None:
            continue
        logger.info(
            "%s: %s (received %s, accepted %s, quarantined %s, duplicates %s)",
            path,
            report["status"],
            report["received"],
            report["accepted"],
            report["quarantined"],
            report["duplicates"],
        )
        reports.append(report)
    stored = [r for r in reports if r["status"] in STORED_STATUSES and r["accepted"] > 0]
    if stored:
        emit(
            settings,
            BATCH_EVENT,
            {
                "batch_ids": [r["batch_id"] for r in stored],
                "accepted": sum(r["accepted"] for r in stored),
                "kinds": sorted({r["kind"] for r in stored}),
            },
        )
    return reports


# ---- monitor ---------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def check_drift(settings: Settings, reference: str | None, current: str | None) -> MonitorOutcome:
    """Drift check + retrain decision (the alert follows the event, see ``monitor``)."""
    return check_store(
        settings,
        parse_window(reference) if reference else None,
        parse_window(current) if current else None,
        notify=False,
    )


@flow(name="recloop-drift-monitor", log_prints=True)
def monitor(
    reference: str | None = None, current: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Check drift of the newest window; publish the summary; emit an event on drift."""
    settings = settings or Settings()
    outcome = check_drift(settings, reference, current)
    result, decision = outcome.result, outcome.decision
    verdict = step_summary.drift_verdict(result)
    publish_markdown(
        summary_markdown(result, decision), key="recloop-drift", description=f"drift: {verdict}"
    )
    label_flow_run(
        step_summary.monitor_run_name(result, decision),
        [f"drift:{'detected' if result.drift_detected else 'none'}"],
    )
    payload = outcome.to_dict()
    keys = ("drift_detected", "drifted_features", "share_drifted", "report_path")
    summary = {k: payload[k] for k in (*keys, "should_retrain", "reasons")}
    get_run_logger().info("drift: %s; %s", verdict, step_summary.trigger_line(decision))
    get_run_logger().info("drift check: %s", summary)
    step = None
    if result.drift_detected:
        event = emit(settings, DRIFT_EVENT, summary)
        step = next_step(settings, decision, event)
        get_run_logger().info("next: %s", step.line())
    alert = notify_drift(settings, result, decision, next_step=step)
    payload["alert"] = {"sent": alert.sent, "suppressed": alert.suppressed, "reason": alert.reason}
    payload["next_step"] = step.line() if step else None
    state = Completed(message=step_summary.monitor_message(result, decision), data=payload)
    return state  # type: ignore[return-value]
