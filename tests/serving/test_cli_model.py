"""`recloop train` (full, then incremental on newer events) and `recloop recommend`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.slow

TINY = {
    "RECLOOP_TRAIN__HIDDEN_DIM": "16",
    "RECLOOP_TRAIN__NUM_LAYERS": "1",
    "RECLOOP_TRAIN__MAX_LEN": "20",
    "RECLOOP_TRAIN__EPOCHS": "2",
    "RECLOOP_TRAIN__INCREMENTAL_EPOCHS": "1",
    "RECLOOP_TRAIN__DEVICE": "cpu",
    "RECLOOP_INGEST__DATA_DOCS": "false",
}


def _run(args: list[str]) -> dict:
    from recloop.cli.main import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_train_full_then_incremental_then_recommend(workspace, ml_slice, monkeypatch):
    from mlflow import MlflowClient

    from recloop import registry
    from recloop.data.ingest import ingest_frame

    for key, value in TINY.items():
        monkeypatch.setenv(key, value)
    events, items = ml_slice
    events = events.sort_values("timestamp", kind="stable")
    cut = int(events["timestamp"].quantile(0.9))
    ingest_frame(workspace, items, kind="items")
    ingest_frame(workspace, events[events["timestamp"] < cut], kind="events")

    full = _run(["train", "--json"])
    assert full["version"] == "1" and full["model_uri"].endswith("/1")
    assert {"run_id", "train_seconds", "metrics"} <= full.keys()
    assert full["metrics"]["valid_ndcg@10"] >= 0
    logged = MlflowClient().get_run(full["run_id"]).data.metrics
    assert logged["diag/new_item_boost"] >= 0  # the bonus chosen for new arrivals

    ingest_frame(workspace, events[events["timestamp"] >= cut], kind="events")
    inc = _run(["train", "--mode", "incremental", "--json"])
    assert inc["version"] == "2" and inc["train_mode"] == "incremental"
    tags = MlflowClient().get_model_version(workspace.registry.model_name, "2").tags
    assert tags[registry.TAG_TRAIN_MODE] == "incremental"
    assert tags[registry.TAG_PARENT_VERSION] == "1"
    assert int(tags[registry.TAG_WINDOW_START]) >= cut

    user = int(events["user_id"].iloc[0])
    recs = _run(["recommend", str(user), "-k", "5", "--diversity", "0.7", "--json"])
    assert recs["model_uri"].endswith("/2") and len(recs["recommendations"]) == 5
    seen = set(events.loc[events["user_id"] == user, "item_id"])
    assert not {r["item_id"] for r in recs["recommendations"]} & seen
    then = _run(["recommend", str(user), "-k", "5", "--at", "1998-01-15", "--json"])
    assert len(then["recommendations"]) == 5

    from recloop.cli.main import app

    bad = CliRunner().invoke(app, ["recommend", str(user), "--at", "last tuesday"])
    assert bad.exit_code == 2 and "--at must be Unix seconds" in bad.output
    assert "Traceback" not in bad.output


def test_train_with_empty_store_fails_cleanly(workspace):
    from recloop.cli.main import app

    result = CliRunner().invoke(app, ["train", "--json"])
    assert result.exit_code == 2
    assert "no events" in result.output
    assert "Traceback" not in result.output


def test_recommend_and_evaluate_resolve_uris_in_the_workspace_and_leave_no_download(
    workspace, ml_slice, trained_model_dir, tmp_path, monkeypatch
):
    """`--model models:/name/N` and `@champion` are looked up in the workspace registry from
    a process where MLflow points nowhere yet: no ./mlflow.db in the current directory, and
    no recloop-model-* download left in the temporary directory."""
    import tempfile

    import mlflow
    from mlflow import MlflowClient

    from recloop.data.ingest import ingest_frame
    from recloop.serving.packaging import log_recommender
    from recloop.settings import Settings
    from recloop.tracking import configure_mlflow

    monkeypatch.setenv("RECLOOP_INGEST__DATA_DOCS", "false")
    settings = Settings()
    events, items = ml_slice
    events = events[events["user_id"] <= 40]
    ingest_frame(settings, items, kind="items")
    ingest_frame(settings, events, kind="events")
    name = settings.registry.model_name
    configure_mlflow(settings)
    with mlflow.start_run():
        _, version = log_recommender(trained_model_dir, registered_model_name=name)
    MlflowClient().set_registered_model_alias(name, settings.registry.champion_alias, version)

    cwd, downloads = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    downloads.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(downloads))
    monkeypatch.setattr(tempfile, "tempdir", str(downloads))

    def fresh_mlflow() -> None:
        """MLflow as a new process finds it: no tracking or registry URI chosen."""
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)

    user = int(events["user_id"].iloc[0])
    for model in (f"models:/{name}/{version}", f"models:/{name}@champion"):
        fresh_mlflow()
        recs = _run(["recommend", str(user), "-k", "5", "--model", model, "--json"])
        assert recs["model_uri"] == model and len(recs["recommendations"]) == 5
    fresh_mlflow()
    run = _run(["evaluate", "--model", f"models:/{name}/{version}", "--no-log", "--json"])
    assert run["metrics"]
    assert not (cwd / "mlflow.db").exists() and not (cwd / "mlruns").exists()
    assert not list(downloads.glob("recloop-model-*"))

    from recloop.cli.main import app

    too_long = CliRunner().invoke(app, ["recommend", str(user), "-k", "101"])
    assert too_long.exit_code == 2 and "serving.max_k" in too_long.output
