"""The continual loop as a Prefect flow: ingest -> drift -> trigger -> train -> gate -> promote.

Every task is a thin wrapper over ``recloop.continual`` (plain, tested functions); this file
only decides order, retries and what is shown in the Prefect UI. The registry changes
(registering the candidate, promote-or-reject) take the registry lock in the event store
themselves (``recloop.registry_lock``), for seconds, with or without a Prefect server.

Run once, without a server (Prefect starts a temporary API):
    python flows/continual.py path/to/batch.csv
As scheduled deployments (see flows/prefect.yaml):
    prefect --no-prompt deploy --all --prefect-file flows/prefect.yaml
    prefect worker start --pool recloop-process
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from recloop import continual as step
from recloop.orchestration import publish_markdown
from recloop.settings import Settings

# Transient failures (a locked SQLite file, a dropped PostgreSQL connection, an MLflow
# server restart) are retried; the work itself is idempotent per batch and per window.
RETRIES = {"retries": 2, "retry_delay_seconds": [5, 30], "cache_policy": NO_CACHE}


@task(name="ingest-batches", **RETRIES)
def ingest(settings: Settings, paths: list[str]) -> list[dict[str, Any]]:
    return step.ingest_batches(settings, paths)


@task(name="plan-step", **RETRIES)
def plan(settings: Settings, mode: str) -> step.StepPlan | None:
    return step.plan_step(settings, mode)  # type: ignore[arg-type]


@task(name="load-catalog", **RETRIES)
def catalog(settings: Settings):
    from recloop.data.store import load_items

    return load_items(settings)


@task(name="check-drift", cache_policy=NO_CACHE)
def drift(settings: Settings, the_plan: step.StepPlan, items):
    return step.check_drift(settings, the_plan, items)


@task(name="decide-retrain", cache_policy=NO_CACHE)
def trigger(settings: Settings, the_plan: step.StepPlan, drift_result, new_events: int):
    return step.decide_retrain(settings, the_plan, drift_result, new_events)


@task(name="train-candidate", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def train(settings: Settings, the_plan: step.StepPlan, items, batch_ids: list[str]):
    return step.train_candidate(settings, the_plan, items, batch_ids)


@task(name="gate-candidate", cache_policy=NO_CACHE)
def gate(settings: Settings, the_plan: step.StepPlan, candidate: step.Candidate, items):
    return step.gate_candidate(settings, the_plan, candidate, items)


@task(name="promote-or-reject", **RETRIES)
def conclude(settings: Settings, the_plan: step.StepPlan, candidate: step.Candidate, decision):
    return step.conclude(settings, the_plan, candidate, decision)


@task(name="notify", cache_policy=NO_CACHE)
def notify(settings: Settings, outcome: step.StepOutcome, drift_result, trigger_decision) -> None:
    step.send_alerts(settings, outcome, drift_result, trigger_decision)


@flow(name="continual", log_prints=True)
def continual(
    paths: list[str] | None = None,
    mode: str = "incremental",
    home: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One continual-loop step over whatever new data the store (and ``paths``) hold.

    Args:
        paths: batch files to ingest first (default: every file in ``<home>/inbox``).
        mode: "incremental" (warm start from the champion) or "full" (from scratch).
        home: workspace (default: ``RECLOOP_HOME``).
        overrides: settings for this run only, e.g. ``{"train": {"epochs": 12}}``.

    Returns:
        dict: the step's outcome (status, windows, drift, trigger, candidate, gate).
    """
    logger = get_run_logger()
    settings = (Settings(home=Path(home)) if home else Settings()).with_overrides(overrides)
    reports = ingest(settings, paths if paths is not None else step.inbox_files(settings))
    outcome = step.StepOutcome(status="no-new-data", ingest=reports)
    the_plan = plan(settings, mode)
    if the_plan is None:
        logger.info("nothing new to learn beyond the champion's window")
        return outcome.to_dict()
    outcome.plan = the_plan.to_dict()
    items = catalog(settings)
    candidate = step.recorded_outcome(settings, the_plan)
    drift_result = trigger_decision = None
    if candidate is None:
        drift_result = drift(settings, the_plan, items)
        trigger_decision = trigger(
            settings, the_plan, drift_result, step.new_event_count(settings, the_plan)
        )
        outcome.drift = drift_result.to_dict() if drift_result is not None else None
        outcome.trigger = step.as_dict(trigger_decision)
        if not trigger_decision.should_retrain:
            outcome.status = "no-retrain"
            outcome.reasons = list(trigger_decision.reasons)
            notify(settings, outcome, drift_result, trigger_decision)
            return outcome.to_dict()
        batch_ids = [r["batch_id"] for r in reports if r.get("batch_id")]
        candidate = train(settings, the_plan, items, batch_ids)
    elif step.decision_of(settings, candidate) is not None:
        outcome.status = "already-done"
        outcome.candidate = step.as_dict(candidate)
        return outcome.to_dict()
    outcome.candidate = step.as_dict(candidate)
    decision = gate(settings, the_plan, candidate, items)
    # Concluding holds the registry lock; the recorded decision can differ from the gate's
    # (a passing one is rejected when the champion moved while this run trained).
    outcome.status, decision = conclude(settings, the_plan, candidate, decision)
    outcome.gate = decision.to_dict()
    outcome.reasons = list(decision.reasons)
    publish_markdown(decision.markdown, key="gate-decision", description="Promotion gate")
    notify(settings, outcome, drift_result, trigger_decision)
    logger.info("step %s: %s", the_plan.run_key, outcome.status)
    return outcome.to_dict()


if __name__ == "__main__":
    print(continual(paths=sys.argv[1:] or None))
