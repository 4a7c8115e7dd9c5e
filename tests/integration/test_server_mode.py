"""Server mode end to end: deployments on a process work pool, run by a real worker.

recloop is pointed at the MLflow tracking server (PostgreSQL backend), the Prefect server
(PostgreSQL) and a PostgreSQL event store through the environment only. Three deployments
from ``tests/integration/prefect.yaml`` run on one worker: the real ingest flow
(``flows/ingest.py``) on MovieLens-100k files, a small flow that logs to MLflow, and then the
real continual loop (``flows/continual.py``), which trains on the stored events, registers
the model on the tracking server and promotes it. Flow-run states are read back from the
Prefect REST API, the registry from the MLflow REST API, and the stores themselves with SQL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = "tests/integration/prefect.yaml"
POOL = "recloop-it-process"
# Its own registered model: the session's MLflow server also holds the versions that
# test_drift_triggers' continual runs register under the default name.
MODEL = "recloop-it-server-mode"
EVENT_ROWS = 3000  # the first rows of the real interactions.csv: a small, real batch


def trigger(prefect_cli, deployment: str, parameters: dict) -> str:
    """``prefect deployment run`` with JSON parameters; returns the flow-run id."""
    out = prefect_cli("deployment", "run", deployment, "--params", json.dumps(parameters)).stdout
    match = re.search(r"UUID: ([0-9a-f-]{36})", out)
    assert match, out
    return match.group(1)


def find_mlflow_run(mlflow_api, flow_run_id: str) -> dict:
    """The MLflow run tagged with ``flow_run_id`` in recloop's experiment (REST API)."""
    experiment = (
        mlflow_api.get("experiments/get-by-name", params={"experiment_name": "recloop"})
        .raise_for_status()
        .json()["experiment"]
    )
    runs = (
        mlflow_api.post(
            "runs/search",
            json={
                "experiment_ids": [experiment["experiment_id"]],
                "filter": f"tags.`prefect.flow_run_id` = '{flow_run_id}'",
            },
        )
        .raise_for_status()
        .json()
        .get("runs", [])
    )
    assert len(runs) == 1, runs
    return runs[0]


def sql_rows(url: str, query: str) -> list[tuple]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


@pytest.fixture
def event_batch(movielens_dir, tmp_path) -> Path:
    lines = (movielens_dir / "interactions.csv").read_text().splitlines()[: EVENT_ROWS + 1]
    path = tmp_path / "events-0001.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def continual_overrides(tmp_path: Path, cache_dir: Path) -> dict:
    """A tiny model and a permissive gate: the test checks the servers' side, not quality."""
    import yaml

    from recloop.settings import PACKAGE_DIR

    policy = yaml.safe_load((PACKAGE_DIR / "gate" / "gate_policy.yaml").read_text())
    policy["floors"] = {key: 1e-4 for key in policy["floors"]}
    policy["infrastructure"]["p95_latency_ms"] = 5000
    policy_file = tmp_path / "gate_policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    return {
        "cache_dir": str(cache_dir),
        "train": {
            "hidden_dim": 16,
            "num_heads": 1,
            "num_layers": 1,
            "max_len": 20,
            "epochs": 2,
            "warmup_steps": 0,
        },
        "eval": {"bootstrap_samples": 200},
        "drift": {"log_to_mlflow": False},
        "gate": {"policy_file": str(policy_file)},
        "registry": {"model_name": MODEL},
        # The batch is the first rows of a file that is not in time order: hold out the
        # last 30 days (a few hundred events) so the gate has users to evaluate.
        "loop": {"holdout_days": 30},
    }


def test_deployments_run_on_worker_against_postgres_servers(
    servers, prefect_cli, process_worker, prefect_api, mlflow_api, wait_flow_run,
    movielens_dir, event_batch, pg_url, tmp_path, embedding_cache_dir,
):  # fmt: skip
    prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite")
    # `prefect deploy` resolves the pull step's {{ $RECLOOP_PROJECT_DIR }} when it runs (checked
    # below): deploy with the directory the runs will see (/opt/recloop in the images).
    project = {"RECLOOP_PROJECT_DIR": str(REPO_ROOT)}
    prefect_cli("deploy", "--all", "--prefect-file", PREFECT_FILE, env=project)
    process_worker(POOL, env=project | {"RECLOOP_DATABASE_URL": pg_url})
    items = str(movielens_dir / "items.csv")
    ingest_id = trigger(prefect_cli, "recloop-ingest/ingest", {"paths": [str(event_batch), items]})
    smoke_id = trigger(
        prefect_cli, "recloop-server-smoke/server-smoke", {"movielens_dir": str(movielens_dir)}
    )

    # Prefect: both runs came from their deployments, through the pool, and completed.
    for flow_run_id in (ingest_id, smoke_id):
        run = wait_flow_run(flow_run_id, timeout=100)
        assert run["state_type"] == "COMPLETED", run["state"]
        assert run["work_pool_name"] == POOL
        deployment = prefect_api.get(f"deployments/{run['deployment_id']}").json()
        (pull,) = deployment["pull_steps"]
        directory = pull["prefect.deployments.steps.set_working_directory"]["directory"]
        assert directory == str(REPO_ROOT)

    # Event store (PostgreSQL): the catalog first, then every event row, all accounted for.
    assert sql_rows(pg_url, "SELECT count(*) FROM items") == [(1682,)]
    assert sql_rows(pg_url, "SELECT count(*) FROM events") == [(EVENT_ROWS,)]
    log = sql_rows(pg_url, "SELECT kind, received, accepted FROM ingest_log ORDER BY started_at")
    assert log == [("items", 1682, 1682), ("events", EVENT_ROWS, EVENT_ROWS)]

    # MLflow (REST): the flow logged real MovieLens-100k figures to the tracking server.
    ml_run = find_mlflow_run(mlflow_api, smoke_id)
    assert ml_run["info"]["status"] == "FINISHED"
    metrics = {m["key"]: m["value"] for m in ml_run["data"]["metrics"]}
    assert metrics == {"n_events": 100_000, "n_items": 1682}
    artifacts = mlflow_api.get(
        "artifacts/list", params={"run_id": ml_run["info"]["run_id"], "path": "smoke"}
    ).raise_for_status()
    assert [f["path"] for f in artifacts.json()["files"]] == ["smoke/tracking_uri.txt"]

    # ... stored by the server in PostgreSQL, the artifact under its artifact root.
    run_id = ml_run["info"]["run_id"]
    stored = sql_rows(servers.mlflow_db_url, f"SELECT status FROM runs WHERE run_uuid = '{run_id}'")
    assert stored == [("FINISHED",)]
    assert list(servers.artifact_root.rglob("tracking_uri.txt"))

    # The continual loop as a deployment, on the events the ingest run stored: no champion
    # yet, so it trains from scratch, registers on the MLflow server and the bootstrap gate
    # rule promotes it.
    continual_id = trigger(
        prefect_cli,
        "continual/continual",
        {
            "paths": [],
            "home": str(tmp_path / "workspace"),
            "overrides": continual_overrides(tmp_path, embedding_cache_dir),
        },
    )
    run = wait_flow_run(continual_id, timeout=480)
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["work_pool_name"] == POOL
    model = mlflow_api.get("registered-models/get", params={"name": MODEL}).raise_for_status()
    aliases = {a["alias"]: a["version"] for a in model.json()["registered_model"]["aliases"]}
    assert aliases == {"champion": "1"}
    version = mlflow_api.get(
        "model-versions/get", params={"name": MODEL, "version": "1"}
    ).raise_for_status()
    tags = {t["key"]: t["value"] for t in version.json()["model_version"]["tags"]}
    assert tags["recloop.gate.decision"] == "passed"
    assert tags["recloop.train_mode"] == "full"
    stored = sql_rows(
        servers.mlflow_db_url,
        f"SELECT alias, version FROM registered_model_aliases WHERE name = '{MODEL}'",
    )
    assert stored == [("champion", 1)]
    # The registry lock (an advisory lock in the event store) went with the run.
    held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
    held += "(SELECT oid FROM pg_database WHERE datname = current_database())"
    assert sql_rows(pg_url, held) == [(0,)]
