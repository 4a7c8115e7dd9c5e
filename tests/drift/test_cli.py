"""``recloop drift`` on a real store: JSON contract, the report stored once in its MLflow run
(drift experiment), exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from .conftest import WEEK

JSON_KEYS = {
    "drift_detected",
    "drifted_features",
    "share_drifted",
    "report_path",
    "should_retrain",
    "reasons",
}
REPORT_FILES = ["drift.json", "evidently.html", "index.html", "summary.md"]


@pytest.fixture
def store_with_weeks(workspace, movielens):
    """The store holding MovieLens items and weeks 4-11 (about 30k real events)."""
    from recloop.data.ingest import ingest_frame

    events = movielens.events
    start = int(events["timestamp"].min()) + 4 * WEEK
    chunk = events[(events["timestamp"] >= start) & (events["timestamp"] < start + 8 * WEEK)]
    assert ingest_frame(workspace, movielens.items, "items").status == "accepted"
    report = ingest_frame(workspace, chunk[["user_id", "item_id", "value", "timestamp"]], "events")
    assert report.accepted == len(chunk)
    return workspace


def _run(*args: str):
    from recloop.cli.main import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    payload = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return result, payload


def test_drift_cli_windows_json_reports_mlflow_and_exit_codes(store_with_weeks):
    settings = store_with_weeks
    result, payload = _run("drift", "--json")
    assert result.exit_code == 0, result.stderr
    assert set(payload) >= JSON_KEYS
    # Default windows: the last 7 days of the store vs everything before (no champion).
    assert payload["current_window"][1] - payload["current_window"][0] == WEEK
    assert payload["reference_window"][1] == payload["current_window"][0]
    assert payload["should_retrain"] and "no champion in the registry yet" in payload["reasons"]
    # Stored once, in the drift check's MLflow run (the workspace's artifact folder here);
    # the reports folder keeps only the small record `recloop status` reads.
    index = Path(payload["report_path"])
    assert index.exists() and "recloop drift check" in index.read_text()
    folder = index.parent
    assert sorted(p.name for p in folder.iterdir()) == REPORT_FILES
    assert 1_000_000 < (folder / "evidently.html").stat().st_size < 8_000_000
    assert "Dataset Drift is" in (folder / "evidently.html").read_text()  # one page, all tables
    local = sorted(p.name for p in settings.reports_dir.rglob("*") if p.is_file())
    assert local == ["drift.json"]
    record = json.loads(next(settings.reports_dir.rglob("drift.json")).read_text())
    assert record["drift_detected"] == payload["drift_detected"]
    assert record["mlflow_run_id"] == payload["mlflow_run_id"]
    # The run is in the drift experiment, like a loop step's, named by the checked window.
    from mlflow import MlflowClient

    from recloop.tracking import configure_mlflow

    configure_mlflow(settings)
    client = MlflowClient()
    run = client.get_run(payload["mlflow_run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == settings.registry.drift_experiment_name == "recloop-drift"
    assert run.info.run_name.startswith("drift 1997-") and run.data.tags["recloop.stage"] == "drift"
    assert run.data.metrics["drift_share_drifted"] == pytest.approx(payload["share_drifted"])
    names = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert names == {f"drift/{name}" for name in REPORT_FILES}

    # Explicit windows (half-open UTC dates), then unusable input: exit 2, one line.
    result, payload = _run(
        "drift",
        "--reference",
        "1997-10-18..1997-11-15",
        "--current",
        "1997-11-15..1997-11-22",
        "--json",
        "--no-notify",
    )
    assert result.exit_code == 0, result.stderr
    assert payload["current_window"] == [879552000, 880156800]
    result, payload = _run("drift", "--current", "1999-01-01..1999-01-08", "--json")
    assert result.exit_code == 2 and payload is None
    assert result.stderr.strip().splitlines() == [
        "error: the current window 1999-01-01..1999-01-08 has no events"
    ]
    result, _ = _run("drift", "--current", "last week")
    assert result.exit_code == 2 and "is not START..END" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
