"""Server mode end to end: a deployment on a process work pool, run by a real worker.

recloop is pointed at the MLflow tracking server (PostgreSQL backend) and the Prefect server
(PostgreSQL) through the environment only. The flow run's state is read back from the
Prefect REST API and the logged run from the MLflow REST API; the MLflow database itself is
checked to prove the PostgreSQL backend store was used.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

FLOW_NAME = "recloop-server-smoke"
DEPLOYMENT = "server-smoke"
REPO_ROOT = Path(__file__).resolve().parents[2]


def deploy_and_run(prefect_cli, process_worker, movielens_dir, repo_root) -> str:
    """Create a process pool, deploy the smoke flow to it, start a worker, trigger a run."""
    pool = f"recloop-it-{uuid.uuid4().hex[:6]}"
    project = {"RECLOOP_PROJECT_DIR": str(repo_root)}
    prefect_cli("work-pool", "create", pool, "--type", "process")
    prefect_cli(
        "deploy", "--prefect-file", "tests/integration/prefect.yaml",
        "--name", DEPLOYMENT, "--pool", pool, env=project,
    )  # fmt: skip
    process_worker(pool, env=project)
    out = prefect_cli(
        "deployment", "run", f"{FLOW_NAME}/{DEPLOYMENT}",
        "--param", f"movielens_dir={movielens_dir}",
    ).stdout  # fmt: skip
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


def test_deployment_runs_on_worker_and_logs_to_tracking_server(
    servers, prefect_cli, process_worker, prefect_api, mlflow_api, wait_flow_run, movielens_dir
):
    from sqlalchemy import create_engine, text

    flow_run_id = deploy_and_run(prefect_cli, process_worker, movielens_dir, REPO_ROOT)
    run = wait_flow_run(flow_run_id, timeout=90)

    # Prefect: the run came from the deployment, through the pool, and completed.
    assert run["state_type"] == "COMPLETED", run["state"]
    deployment = prefect_api.get(f"deployments/{run['deployment_id']}").raise_for_status().json()
    assert deployment["name"] == DEPLOYMENT
    assert run["work_pool_name"] == deployment["work_pool_name"]
    assert run["work_pool_name"].startswith("recloop-it-")

    # MLflow (REST): the flow logged real MovieLens-100k figures to the tracking server.
    ml_run = find_mlflow_run(mlflow_api, flow_run_id)
    assert ml_run["info"]["status"] == "FINISHED"
    metrics = {m["key"]: m["value"] for m in ml_run["data"]["metrics"]}
    assert metrics == {"n_events": 100_000, "n_items": 1682}
    artifacts = mlflow_api.get(
        "artifacts/list", params={"run_id": ml_run["info"]["run_id"], "path": "smoke"}
    ).raise_for_status()
    assert [f["path"] for f in artifacts.json()["files"]] == ["smoke/tracking_uri.txt"]

    # The tracking server stored it in PostgreSQL and the artifact under its artifact root.
    engine = create_engine(servers.mlflow_db_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT status FROM runs WHERE run_uuid = :id"),
                {"id": ml_run["info"]["run_id"]},
            ).scalar_one()
    finally:
        engine.dispose()
    assert stored == "FINISHED"
    assert list(servers.artifact_root.rglob("tracking_uri.txt"))
