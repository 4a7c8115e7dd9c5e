"""The drift monitoring flow: check the newest window, report, alert, emit an event.

Thin by design: one task calls ``recloop.drift.monitor.check_store`` (drift, retrain
decision, deduplicated Apprise alert); the flow publishes the Markdown summary as a Prefect
artifact and, when drift is found, emits the Prefect event ``recloop.drift.detected``
(resource ``recloop.model.<model name>``; payload: drifted features, share, report path,
retrain decision). React to it the Prefect way, e.g. a deployment trigger in prefect.yaml::

    triggers:
      - type: event
        expect: ["recloop.drift.detected"]
        within: 3600        # debounce: one retrain per hour of drift events at most
        posture: Reactive

Scheduled hourly by ``flows/prefect.yaml`` (``drift-monitor-hourly``); run once with
``python flows/monitor.py`` (a temporary Prefect API starts when none is configured).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from recloop.settings import Settings

DRIFT_EVENT = "recloop.drift.detected"


@task
def check_drift(settings: Settings, reference: str | None, current: str | None) -> Any:
    """Drift check + retrain decision + alert (never fails on alert delivery)."""
    from recloop.drift.monitor import check_store, parse_window

    return check_store(
        settings,
        parse_window(reference) if reference else None,
        parse_window(current) if current else None,
    )


@flow(name="recloop-drift-monitor", log_prints=True)
def monitor(
    reference: str | None = None, current: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Check drift of the newest window; publish the summary; emit an event on drift."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.events import emit_event

    from recloop.drift.report import summary_markdown

    settings = settings or Settings()
    outcome = check_drift(settings, reference, current)
    result, decision = outcome.result, outcome.decision
    create_markdown_artifact(
        markdown=summary_markdown(result, decision),
        key="recloop-drift",
        description="recloop drift check",
    )
    payload = outcome.to_dict()
    summary = {
        k: payload[k]
        for k in (
            "drift_detected",
            "drifted_features",
            "share_drifted",
            "report_path",
            "should_retrain",
            "reasons",
        )
    }
    get_run_logger().info("drift check: %s", summary)
    if result.drift_detected:
        emit_event(
            event=DRIFT_EVENT,
            resource={"prefect.resource.id": f"recloop.model.{settings.registry.model_name}"},
            payload=summary,
        )
    return payload


if __name__ == "__main__":
    monitor()
