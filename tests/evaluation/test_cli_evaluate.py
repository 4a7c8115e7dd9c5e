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


def test_next_window_with_k5(ml_store, run_cli):
    code, _, stderr, payload = run_cli(
        "evaluate",
        "--model",
        "itemknn",
        "--protocol",
        "next-window",
        "--k",
        "5",
        "--json",
        "--no-log",
    )
    assert code == 0, stderr
    assert payload["k"] == 5 and "ndcg@5" in payload["metrics"]
    assert 38 <= payload["users"] <= 128 and payload["cases"] > payload["users"]
    assert payload["cutoff"] is not None and payload["run_id"] is None


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
