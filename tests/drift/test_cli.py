"""``recloop drift`` on a real store: JSON contract, report files, MLflow run, exit codes."""

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
    index = Path(payload["report_path"])
    assert index.exists() and "recloop drift check" in index.read_text()
    folder = index.parent
    for table in ("events", "users", "items", "categories"):
        assert (folder / f"{table}.html").stat().st_size > 10_000
        assert "metrics" in json.loads((folder / f"{table}.json").read_text())
    assert (
        json.loads((folder / "drift.json").read_text())["drift_detected"]
        == payload["drift_detected"]
    )
    # Logged to MLflow with the report folder as artifacts.
    from mlflow import MlflowClient

    from recloop.tracking import configure_mlflow

    configure_mlflow(settings)
    run = MlflowClient().get_run(payload["mlflow_run_id"])
    assert run.data.metrics["drift_share_drifted"] == pytest.approx(payload["share_drifted"])
    names = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "drift")}
    assert "drift/index.html" in names and "drift/events.html" in names

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
