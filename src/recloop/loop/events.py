"""recloop's Prefect events, and what the deployment triggers make of them.

Two events drive retraining (``flows/prefect.yaml`` wires them to the continual
deployment with Prefect's own deployment triggers, debounced with ``within``):

- ``recloop.drift.detected``: the monitor found drift (payload: the drifted features);
- ``recloop.batch.ingested``: an ingest run stored new rows (payload: the batch ids).

Both name the model as their resource (``recloop.model.<name>``). A triggered run gets
``trigger="<event name> <event id>"`` as a parameter, which is how :func:`next_step` finds
the run a drift event started (or the earlier one that debounced it), so the alert can say
what the loop will do and link that run.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from prefect.events import Event, emit_event

from recloop.drift.triggers import TriggerDecision
from recloop.notify import NextStep, flow_run_link
from recloop.settings import Settings

logger = logging.getLogger(__name__)
DRIFT_EVENT = "recloop.drift.detected"
BATCH_EVENT = "recloop.batch.ingested"
CONTINUAL_FLOW = "continual"


def model_resource(settings: Settings) -> dict[str, str]:
    return {"prefect.resource.id": f"recloop.model.{settings.registry.model_name}"}


def emit(settings: Settings, name: str, payload: dict[str, Any]) -> Event | None:
    """Emit ``name`` about the model (None when no Prefect API takes events)."""
    return emit_event(event=name, resource=model_resource(settings), payload=payload)


def next_step(
    settings: Settings, decision: TriggerDecision, event: Event | None, wait: float | None = None
) -> NextStep:
    """What the loop does about this drift, in words, with the run's link when there is one.

    Waits up to ``notify.triggered_run_wait_seconds`` for the run the drift event starts;
    a lookup failure is logged and described, never raised (the alert must still go out).
    """
    if not decision.should_retrain:
        return NextStep("nothing; the trigger policy found no reason to retrain")
    if event is None:
        return NextStep("retrain at the continual loop's next run (no Prefect API for events)")
    wait = settings.notify.triggered_run_wait_seconds if wait is None else wait
    try:
        return _triggered_run(settings, event, wait)
    except Exception as exc:  # the API is down or changed: say so, do not fail the monitor
        logger.warning("could not look up the triggered retrain (%s)", type(exc).__name__)
        return NextStep(
            f"retrain through the deployment trigger on {DRIFT_EVENT} (not confirmed: the "
            "Prefect API could not be asked)"
        )


def _triggered_run(settings: Settings, event: Event, wait: float) -> NextStep:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        windows = [
            trigger.within
            for automation in client.read_automations()
            if automation.enabled
            for trigger in _event_triggers(automation.trigger)
            if DRIFT_EVENT in (trigger.expect or ())
        ]
        if not windows:
            return NextStep(
                f"retrain at the continual loop's next scheduled run: no deployment trigger "
                f"listens for {DRIFT_EVENT} (deploy flows/prefect.yaml)"
            )
        debounce = max(windows, key=lambda w: w or timedelta(0))
        deadline = time.monotonic() + wait
        while True:
            runs = _continual_runs(client, since=event.occurred - timedelta(minutes=1))
            mine = [r for r in runs if str(event.id) in str(r.parameters.get("trigger") or "")]
            if mine:
                run = mine[0]
                return NextStep(
                    f"retraining now: flow run {run.name} ({run.state_name}), "
                    "started by this drift event:",
                    flow_run_link(settings, str(run.id)),
                )
            earlier = _drift_triggered(
                _continual_runs(client, since=event.occurred - debounce), event
            )
            if earlier is not None or time.monotonic() >= deadline:
                break
            time.sleep(1)
    if earlier is not None:
        when = _utc(earlier.expected_start_time)
        return NextStep(
            f"no second retrain (debounced for {_hours(debounce)} after the last): "
            f"drift-triggered flow run {earlier.name} ({earlier.state_name}, {when}) covers it:",
            flow_run_link(settings, str(earlier.id)),
        )
    return NextStep(
        f"a retrain was requested ({DRIFT_EVENT}) but no run appeared within {wait:g} s; "
        "check the deployment's trigger in the Prefect UI"
    )


def _event_triggers(trigger: Any) -> list[Any]:
    """The event triggers in ``trigger`` (composite triggers hold several)."""
    inner = getattr(trigger, "triggers", None)
    if inner:
        return [t for sub in inner for t in _event_triggers(sub)]
    return [trigger] if hasattr(trigger, "expect") else []


def _continual_runs(client: Any, since: datetime) -> list[Any]:
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    return client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[CONTINUAL_FLOW])),
        flow_run_filter=FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=50,
    )


def _drift_triggered(runs: list[Any], event: Event) -> Any | None:
    """The newest run another drift event triggered (the one that debounces this event)."""
    for run in runs:
        trigger = str(run.parameters.get("trigger") or "")
        if trigger.startswith(DRIFT_EVENT) and str(event.id) not in trigger:
            return run
    return None


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "time unknown"


def _hours(span: timedelta | None) -> str:
    seconds = span.total_seconds() if span else 0
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"
