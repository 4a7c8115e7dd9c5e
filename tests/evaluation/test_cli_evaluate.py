"""`recloop evaluate` end to end on a store holding MovieLens-100k."""

from __future__ import annotations

import pytest

CONTRACT_KEYS = [
    "recall",
    "precision",
    "hit",
    "ndcg",
    "mrr",
    "map",
    "coverage",
    "gini",
    "novelty",
    "ild",
    "avg_popularity",
    "tail_share",
    "category_entropy",
]


def test_pop_leave_one_out_json_contract(ml_store, run_cli):
    code, stdout, stderr, payload = run_cli(
        "evaluate", "--model", "pop", "--protocol", "loo", "--k", "10", "--json", "--no-log"
    )
    assert code == 0, stderr
    assert {"model", "protocol", "k", "users", "metrics"} <= set(payload)
    assert payload["model"] == "pop" and payload["protocol"] == "loo" and payload["k"] == 10
    assert payload["users"] == 943
    for name in CONTRACT_KEYS:
        assert f"{name}@10" in payload["metrics"]
    assert payload["metrics"]["recall@10"] == pytest.approx(0.0859, abs=5e-5)
    assert "recall@10" in stderr  # the human table goes to stderr
    assert len(stdout.strip().splitlines()) == 1  # stdout holds only the JSON line


def test_next_window_with_k5_and_mlflow_logging(ml_store, run_cli):
    from mlflow import MlflowClient

    code, _, stderr, payload = run_cli(
        "evaluate", "--model", "itemknn", "--protocol", "next-window", "--k", "5", "--json"
    )
    assert code == 0, stderr
    assert payload["k"] == 5 and "ndcg@5" in payload["metrics"]
    assert 38 <= payload["users"] <= 128 and payload["cases"] > payload["users"]
    client = MlflowClient(ml_store.mlflow_tracking_uri)
    run = client.get_run(payload["run_id"])
    assert run.data.metrics["ndcg_at_5"] == pytest.approx(payload["metrics"]["ndcg@5"])
    assert run.data.params["protocol"] == "next-window"
    history = client.get_metric_history(payload["run_id"], "curve_ndcg")
    assert sorted(m.step for m in history) == [1, 5, 10, 20, 50]
    folder = "evaluation"
    files = {a.path for a in client.list_artifacts(payload["run_id"], folder)}
    plots = {a.path for a in client.list_artifacts(payload["run_id"], f"{folder}/plots")}
    assert f"{folder}/slice_activity.json" in files and f"{folder}/slice_cold_item.json" in files
    assert f"{folder}/plots/metric_vs_k.png" in plots


def test_bad_input_is_one_line_and_exit_2(workspace, run_cli):
    code, _, stderr, _ = run_cli("evaluate", "--model", "pop", "--protocol", "loo", "--no-log")
    assert code == 2 and "no events" in stderr and "Traceback" not in stderr
    code, _, stderr, _ = run_cli("evaluate", "--model", "pop", "--protocol", "sideways")
    assert code == 2 and "unknown protocol" in stderr


def test_unknown_model_is_a_clear_error(ml_store, run_cli, tmp_path):
    code, _, stderr, _ = run_cli(
        "evaluate", "--model", str(tmp_path / "nowhere"), "--protocol", "loo", "--no-log"
    )
    assert code == 2 and "not found" in stderr
