"""The Prefect flows, shipped with the library: ``continual``, ``ingest_flow``, ``monitor``.

Each flow is thin: its tasks wrap library functions and the flow decides what is Prefect's
(retries, what is shown in the UI, events). ``flows/*.py`` at the top of the repository are
the deployment entry points ``flows/prefect.yaml`` names; they only re-export these.

- ``continual``: one loop step (``recloop.loop.step.run_step``) with each stage a task,
  the gate's decision published as a Markdown artifact. The registry changes (registering
  the candidate, promote-or-reject) take the registry lock in the event store themselves
  (``recloop.registry.lock``), for seconds, with or without a Prefect server.
- ``ingest_flow``: validate and store batch files (catalogs first; by default whatever
  waits in the inbox, filed away afterwards); retries only transient database errors, bad
  data is quarantined by the library and never retried. When new rows were stored it
  emits ``recloop.batch.ingested``.
- ``monitor``: one drift check of the newest window (``recloop.loop.monitor.check_store``),
  its summary as an artifact, the Prefect event ``recloop.drift.detected`` when drift is
  found, then the alert, which names the retrain that event triggered (``events.py``).

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

from recloop.data.store import load_items
from recloop.drift import DriftResult, TriggerDecision
from recloop.drift.report import summary_markdown
from recloop.gate import GateDecision
from recloop.loop import stages
from recloop.loop.events import BATCH_EVENT, DRIFT_EVENT, emit, next_step
from recloop.loop.inbox import STORED_STATUSES
from recloop.loop.ingest import ingest_batches, ingest_one, ingest_order
from recloop.loop.monitor import MonitorOutcome, check_store, parse_window
from recloop.loop.orchestration import publish_markdown
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
    """The step's stages as Prefect tasks (the cheap registry look-ups stay plain calls)."""

    def ingest(self, settings, paths):
        return ingest_task(settings, paths)

    def plan(self, settings, mode):
        return plan_task(settings, mode)

    def catalog(self, settings):
        return catalog_task(settings)

    def drift(self, settings, plan, items):
        return drift_task(settings, plan, items)

    def trigger(self, settings, plan, drift):
        return trigger_task(settings, plan, drift, new_event_count(settings, plan))

    def train(self, settings, plan, items, batch_ids):
        return train_task(settings, plan, items, batch_ids)

    def gate(self, settings, plan, candidate, items):
        return gate_task(settings, plan, candidate, items)

    def conclude(self, settings, plan, candidate, decision):
        return conclude_task(settings, plan, candidate, decision)

    def notify(self, settings, outcome):
        notify_task(settings, outcome)


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
    """
    logger = get_run_logger()
    logger.info("started by %s", trigger or "a schedule or by hand")
    settings = (Settings(home=Path(home)) if home else Settings()).with_overrides(overrides)
    batches = paths if paths is not None else inbox_files(settings)
    outcome = run_step(settings, batches, mode, TaskStages())  # type: ignore[arg-type]
    if outcome.status is StepStatus.NO_NEW_DATA:
        logger.info("nothing new to learn beyond the champion's window")
    if outcome.gate is not None:
        publish_markdown(outcome.gate.markdown, key="gate-decision", description="Promotion gate")
    if outcome.plan is not None:
        logger.info("step %s: %s", outcome.plan.run_key, outcome.status)
    return {**outcome.to_dict(), "trigger": trigger}


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
    publish_markdown(
        summary_markdown(result, decision), key="recloop-drift", description="recloop drift check"
    )
    payload = outcome.to_dict()
    keys = ("drift_detected", "drifted_features", "share_drifted", "report_path")
    summary = {k: payload[k] for k in (*keys, "should_retrain", "reasons")}
    get_run_logger().info("drift check: %s", summary)
    step = None
    if result.drift_detected:
        event = emit(settings, DRIFT_EVENT, summary)
        step = next_step(settings, decision, event)
        get_run_logger().info("next: %s", step.line())
    alert = notify_drift(settings, result, decision, next_step=step)
    payload["alert"] = {"sent": alert.sent, "suppressed": alert.suppressed, "reason": alert.reason}
    payload["next_step"] = step.line() if step else None
    return payload
