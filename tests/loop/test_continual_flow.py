"""End to end: the real ``continual`` flow, twice, under Prefect's test harness.

Small real data (120 MovieLens users, five weeks), a tiny frozen-encoder model and a
permissive gate, so the test checks the loop's mechanics: what is ingested, trained,
registered, gated and promoted, and that a repeated run changes nothing. The same runs are
then read back from the Prefect API: each run's name, tags and state message carry its
window and outcome, its artifact tells the step with links, its log has a line per stage.
"""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.slow]


def champion_version(settings) -> str | None:
    from recloop.registry import get_champion

    champion = get_champion(settings)
    return champion.version if champion else None


def _continual_flow(settings):
    from recloop.loop.flows import continual

    return continual


def test_two_runs_register_gate_and_promote(loop_env, slice_batches, prefect_harness):
    from mlflow import MlflowClient

    from recloop.registry import (
        TAG_GATE_DECISION,
        TAG_PARENT_VERSION,
        TAG_RUN_KEY,
        TAG_TRAIN_MODE,
        TAG_WINDOW_END,
        get_alias,
        promotion_history,
    )
    from recloop.registry.describe import window_dates

    settings = loop_env
    items, first, second = slice_batches
    continual = _continual_flow(settings)

    # Run 1: no champion yet -> full training, bootstrap gate rule, promotion.
    state1 = continual(paths=[str(items), str(first)], return_state=True)
    out1 = state1.result()
    assert out1["status"] == "promoted", out1["reasons"]
    assert out1["plan"]["mode"] == "full"
    assert [r["status"] for r in out1["ingest"]] == ["accepted", "accepted"]
    assert champion_version(settings) == "1"
    client = MlflowClient()
    v1 = client.get_model_version(settings.registry.model_name, "1")
    assert v1.tags[TAG_GATE_DECISION] == "passed"
    assert v1.tags[TAG_TRAIN_MODE] == "full"
    assert int(v1.tags[TAG_WINDOW_END]) == out1["plan"]["holdout_start"]

    # Run 2: a new week -> incremental fine-tune from v1, gated against v1.
    state2 = continual(paths=[str(second)], return_state=True)
    out2 = state2.result()
    assert out2["plan"]["mode"] == "incremental"
    assert out2["plan"]["train_start"] == out1["plan"]["holdout_start"]  # nothing skipped
    assert out2["status"] in {"promoted", "rejected"}
    v2 = client.get_model_version(settings.registry.model_name, "2")
    assert v2.tags[TAG_PARENT_VERSION] == "1"
    assert v2.tags[TAG_TRAIN_MODE] == "incremental"
    assert v2.tags[TAG_RUN_KEY] == out2["plan"]["run_key"]
    expected = "passed" if out2["status"] == "promoted" else "rejected"
    assert v2.tags[TAG_GATE_DECISION] == expected
    if out2["status"] == "promoted":
        assert champion_version(settings) == "2"
        assert get_alias(settings, settings.registry.previous_alias).version == "1"
    else:
        assert champion_version(settings) == "1"  # a rejected candidate never moves it
        # A rejected candidate is no challenger: the list page headlines the champion.
        assert get_alias(settings, settings.registry.challenger_alias) is None
    history_before = len(promotion_history(settings))

    # Run 2 again (a retried or duplicate schedule): no new version, no promotion.
    again = continual(paths=[str(second)])  # a plain call returns the dict
    assert again["status"] in {"already-done", "no-new-data"}
    assert all(r["status"] == "duplicate" for r in again["ingest"])
    versions = client.search_model_versions(f"name = '{settings.registry.model_name}'")
    assert len(versions) == 2
    assert len(promotion_history(settings)) == history_before

    # What the Prefect UI shows of the same runs.
    run1, run2 = flow_run_view(state1), flow_run_view(state2)
    end1 = window_dates(None, out1["plan"]["window_end"]).split("..")[1]
    assert run1["name"] == f"full up to {end1} · promoted v1"
    assert {"mode:full", "outcome:promoted"} <= set(run1["tags"])
    assert run1["message"] == state1.message and run1["message"].startswith("promoted v1 (full")
    step1 = run1["artifacts"]["continual-step"]
    assert step1.startswith("# Continual step: **promoted v1**")
    assert "no champion (bootstrap rule)" in step1 and "| items.csv | items |" in step1

    plan2 = out2["plan"]
    window = window_dates(plan2["train_start"], plan2["window_end"])
    outcome2 = f"{out2['status']} v2"
    assert run2["name"] == f"incremental {window} · {outcome2}"
    assert {"mode:incremental", f"outcome:{out2['status']}"} <= set(run2["tags"])
    assert run2["message"].startswith(f"{outcome2} (incremental {window})")
    step2 = run2["artifacts"]["continual-step"]
    assert step2.startswith(f"# Continual step: **{outcome2}**")
    assert f"**incremental {window}** (UTC)" in step2 and "- parent: champion version 1" in step2
    assert "| events-b.csv | events | accepted |" in step2
    verdict = "**PASSED**" if out2["status"] == "promoted" else "**REJECTED**"
    assert f"- decision: {verdict} (against champion v1;" in step2
    for reason in out2["reasons"]:
        assert reason in step2
    assert "version 2 registered (incremental training" in step2
    # No UI base configured: MLflow routes are shown as code (they would open a Prefect page).
    assert f"runs/{out2['candidate']['run_id']}`" in step2
    assert f"- model version 2: `#/models/{settings.registry.model_name}/versions/2`" in step2
    assert run2["artifacts"]["gate-decision"].startswith("# Promotion gate")
    if out2["drift"] is not None:  # published by the continual flow too
        assert run2["artifacts"]["recloop-drift"].startswith("## recloop drift check")
        assert "- drift report: `" in step2
    lines = run2["logs"]
    assert any(line.startswith("events ingested: ") for line in lines), lines
    assert any(line.startswith("plan: incremental step on ") for line in lines), lines
    assert any(line.startswith("drift: ") for line in lines), lines
    assert any(line.startswith("trigger: retrain") for line in lines), lines
    assert "candidate: version 2 registered" in "\n".join(lines)
    assert any(line.startswith(f"gate: {verdict.strip('*')}, version 2") for line in lines)
    again_name = flow_run_view(latest_state())["name"]
    assert again_name.endswith(("· already done v2", "· no new data")), again_name


def latest_state():
    """The newest run's final state (a plain call returns the result, not the state)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        run = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)[0]
    return run.state


def flow_run_view(state) -> dict:
    """A flow run as the Prefect UI lists it: name, tags, state message, artifacts, log."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        for _ in range(40):  # logs reach the API in batches, a second or two late
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
            if any(log.message.startswith("step outcome: ") for log in logs):
                break
            time.sleep(0.25)
    return {
        "name": run.name,
        "tags": run.tags,
        "message": run.state.message,
        "artifacts": {a.key: a.data for a in artifacts},
        "logs": [log.message for log in logs],
    }
