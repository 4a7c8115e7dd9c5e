"""The monitoring flow on a real store with drift: artifact, event, and a dead webhook."""

from __future__ import annotations

import time

import pytest


def _flow_module():
    """The flows as the installed package ships them (flows/monitor.py re-exports them)."""
    from recloop.loop import flows

    return flows


@pytest.fixture
def drifted_store(workspace, drifted_weeks):
    """Store: MovieLens items, weeks 4-10 as they are, week 11 with inflated ratings."""
    from recloop.data.ingest import ingest_frame

    items, before, week = drifted_weeks
    ingest_frame(workspace, items, "items")
    ingest_frame(workspace, before, "events")
    ingest_frame(workspace, week, "events")
    return workspace


@pytest.mark.integration
def test_monitor_flow_emits_event_publishes_artifact_and_survives_a_dead_webhook(
    prefect_harness, drifted_store, receiver
):
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    flows_monitor = _flow_module()
    settings = drifted_store
    settings.drift.log_to_mlflow = False
    settings.notify.apprise_urls = [receiver.url("down")]
    settings.notify.retries = 1
    settings.notify.retry_delay_seconds = 0.05
    receiver.status = 503
    state = flows_monitor.monitor(settings=settings, return_state=True)
    assert state.is_completed()
    payload = state.result()
    assert payload["drift_detected"] and "events.value" in payload["drifted_features"]
    assert payload["alert"]["sent"] is False and len(receiver.requests) == 2  # tried, retried
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
        run = client.read_flow_run(state.state_details.flow_run_id)
    # The run list tells the verdict: the name carries the window, the state the verdict.
    assert run.name.startswith("drift ") and run.name.endswith(" · drift, retrain"), run.name
    assert "drift:detected" in run.tags
    assert (
        run.state.message.startswith("drift detected in ") and "events.value" in run.state.message
    )
    assert "retrain: yes" in run.state.message
    # This run's summary (continual runs in the same Prefect session publish one too).
    summaries = [a for a in artifacts if a.key == "recloop-drift" and a.flow_run_id == run.id]
    assert summaries and "## recloop drift check: drift detected" in summaries[0].data
    url = f"{PREFECT_API_URL.value()}/events/filter"
    body = {"filter": {"event": {"name": [flows_monitor.DRIFT_EVENT]}}, "limit": 10}
    for _ in range(40):
        events = httpx.post(url, json=body).json()["events"]
        if events:
            break
        time.sleep(0.25)
    assert events, "recloop.drift.detected never reached the Prefect API"
    assert "events.value" in events[0]["payload"]["drifted_features"]
    assert events[0]["resource"]["prefect.resource.id"] == "recloop.model.recloop-recommender"
