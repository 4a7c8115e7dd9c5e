"""What an operator reads in the MLflow UI after a small continual run, read over REST.

A real ``mlflow server`` (SQLite backend, proxied artifacts), the real ``continual`` flow
twice under Prefect's test harness on real MovieLens data (120 users, five weeks): the
first step trains from scratch and is promoted (bootstrap rule); the second is gated with
an unreachable floor, so it is rejected. Everything below is read back through the MLflow
REST API, as the UI reads it: version descriptions, tags, aliases, run params, metrics,
plots and the drift check's run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from ..integration.conftest import base_env, free_port, start_group, stop_group, wait_healthy
from ..loop.conftest import loop_env, slice_batches  # noqa: F401  (tiny model, real slice)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ALLOWED_VERSION_TAGS = {
    "recloop.train_mode",
    "recloop.window_start",
    "recloop.window_end",
    "recloop.parent_version",
    "recloop.run_key",
    "recloop.gate.decision",
    "recloop.gate.policy_version",
    "recloop.promoted_at",
}
HEADLINE = {"ndcg_at_10", "recall_at_10", "mrr_at_10", "ild_at_10", "coverage_at_10"}


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` on SQLite with proxied artifacts, for this module."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port, log = free_port(), root / "server.log"
    proc = start_group(
        [str(Path(sys.executable).parent / "mlflow"), "server",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "mlartifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        base_env(root) | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, log,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/health", proc, log, 120)
        yield url
    finally:
        stop_group(proc)


@pytest.fixture
def rest(tracking_server):
    import httpx

    with httpx.Client(base_url=f"{tracking_server}/api/2.0/mlflow/", timeout=30) as client:

        def get(endpoint: str, **params) -> dict:
            return client.get(endpoint, params=params).raise_for_status().json()

        def post(endpoint: str, body: dict) -> dict:
            return client.post(endpoint, json=body).raise_for_status().json()

        yield get, post


def strict_policy(tmp_path: Path) -> str:
    from recloop.settings import PACKAGE_DIR

    policy = yaml.safe_load((PACKAGE_DIR / "gate" / "gate_policy.yaml").read_text())
    policy["floors"]["ndcg@10"] = 0.99  # unreachable: the second candidate is rejected
    policy["infrastructure"]["p95_latency_ms"] = 5000
    path = tmp_path / "strict_policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return str(path)


@pytest.mark.timeout(1800)  # two loop steps and two servers; ~4 min on an idle 2-core box
def test_the_registry_tells_the_loop_story_over_rest(
    loop_env,  # noqa: F811  (the loop tests' fixtures, imported above)
    slice_batches,  # noqa: F811
    prefect_harness,
    tracking_server,
    rest,
    monkeypatch,
    tmp_path,
):
    from recloop.loop.flows import continual
    from recloop.registry.describe import window_dates

    get, post = rest
    monkeypatch.setenv("RECLOOP_REGISTRY__TRACKING_URI", tracking_server)
    monkeypatch.setenv("RECLOOP_DRIFT__LOG_TO_MLFLOW", "true")
    # Small plots: two K values, two MMR lambdas on 100 cases (the gate logs them).
    monkeypatch.setenv("RECLOOP_EVAL__CURVE_KS", "[5, 10]")
    monkeypatch.setenv("RECLOOP_EVAL__MMR_LAMBDAS", "[1.0, 0.5]")
    monkeypatch.setenv("RECLOOP_EVAL__FRONTIER_CASES", "100")
    name = "recloop-recommender"
    items, first, second = slice_batches

    out1 = continual(paths=[str(items), str(first)])
    assert out1["status"] == "promoted", out1["reasons"]
    state = continual(
        paths=[str(second)],
        overrides={"gate": {"policy_file": strict_policy(tmp_path)}},
        return_state=True,
    )
    out2 = state.result()
    assert out2["status"] == "rejected", out2
    flow_run_id = str(state.state_details.flow_run_id)

    # Aliases mean what they say: the list headlines the champion, not a rejected version.
    model = get("registered-models/get", name=name)["registered_model"]
    assert {a["alias"]: a["version"] for a in model["aliases"]} == {"champion": "1"}
    assert model["description"].startswith("## Champion: [version 1]")
    assert "| promote | 1 |" in model["description"]

    v1 = get("model-versions/get", name=name, version="1")["model_version"]
    v2 = get("model-versions/get", name=name, version="2")["model_version"]
    for version in (v1, v2):  # few, namespaced tags: the story is in the description
        keys = {t["key"] for t in version.get("tags", [])}
        assert keys <= ALLOWED_VERSION_TAGS and len(keys) <= 8, keys
    tags2 = {t["key"]: t["value"] for t in v2["tags"]}
    assert tags2["recloop.gate.decision"] == "rejected"
    assert tags2["recloop.run_key"] == out2["plan"]["run_key"]

    # The promoted version says why it was promoted; the rejected one why not.
    d1, d2 = v1["description"], v2["description"]
    assert d1.startswith("## Version 1: **CHAMPION**")
    assert "bootstrap rule" in d1 and "gate checks passed" in d1
    assert d2.startswith("## Version 2: **REJECTED**")
    for reason in out2["reasons"]:
        assert reason in d2
    # Candidate vs champion, one named aggregate, the gain and its interval.
    assert "### Candidate vs champion v1" in d2 and "mean over holdout users" in d2
    ndcg_row = next(line for line in d2.splitlines() if line.startswith("| ndcg@10 |"))
    cells = [c.strip() for c in ndcg_row.strip("|").split("|")]
    assert float(cells[1]) == pytest.approx(out2["gate"]["challenger_metrics"]["ndcg@10"], abs=1e-4)
    assert ".." in cells[4]  # the 95% interval of the gain
    assert any(line.startswith("| ild@10 |") for line in d2.splitlines())
    # Training data as dates and batch files; parent; links to run, drift report, flow run.
    plan = out2["plan"]
    assert window_dates(plan["train_start"], plan["holdout_start"]) in d2
    assert "`events-b.csv`" in d2 and "warm-started from version 1" in d2
    run_id = v2["run_id"]
    assert f"runs/{run_id})" in d2 and "[drift report](" in d2
    assert flow_run_id in d2

    # The run: named by mode and dates, every training setting, readable metric keys.
    run = get("runs/get", run_id=run_id)["run"]
    assert (
        run["info"]["run_name"]
        == f"incremental {window_dates(plan['train_start'], plan['holdout_start'])}"
    )
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert {"lr", "encoder_name", "replay_ratio", "epochs", "train_mode"} <= set(params)
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert set(metrics) >= HEADLINE
    assert all(k in HEADLINE | {"hit_at_10", "novelty_at_10", "gini_at_10"} or k.startswith("diag/")
               for k in metrics), sorted(metrics)  # fmt: skip
    duration_ms = int(run["info"]["end_time"]) - int(run["info"]["start_time"])
    assert duration_ms >= 1000 * metrics["diag/train_seconds"]

    # Plots and the full check table are artifacts of the candidate's run.
    def files(path: str) -> set[str]:
        return {f["path"] for f in get("artifacts/list", run_id=run_id, path=path).get("files", [])}

    assert {"evaluation/plots/metric_vs_k.png", "evaluation/plots/frontier.png"} <= files(
        "evaluation/plots"
    )
    assert {"gate/checks.json", "gate/checks.html"} <= files("gate")

    # The drift check has its own experiment, linked to the version it checked.
    drift = get("experiments/get-by-name", experiment_name="recloop-drift")["experiment"]
    found = post(
        "runs/search",
        {
            "experiment_ids": [drift["experiment_id"]],
            "filter": "tags.`recloop.checked_version` = '1'",
        },
    )["runs"]
    assert len(found) == 1
    drift_run = found[0]["info"]
    assert drift_run["run_name"].startswith("drift ") and drift_run["run_name"].endswith("vs v1")
    assert f"experiments/{drift['experiment_id']}/runs/{drift_run['run_id']}" in d2
    training = get("experiments/get-by-name", experiment_name="recloop")["experiment"]
    names = [
        r["info"]["run_name"]
        for r in post("runs/search", {"experiment_ids": [training["experiment_id"]]})["runs"]
    ]
    assert not [n for n in names if n.startswith("drift")]  # not mixed with training runs
