"""A real trained recommender through the harness, the MMR frontier and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from recloop.evaluation import Scorer, evaluate_scorer, leave_one_out, loo_cases
from recloop.evaluation.curves import mmr_frontier, supports_mmr


@pytest.fixture(scope="module")
def tiny_model(movielens, embedding_cache_dir, tmp_path_factory):
    """A small model on MovieLens' first 40 users (their items only: a quick text encoding)."""
    from recloop.serving import load_recommender
    from recloop.settings import Settings
    from recloop.training.trainer import train_recommender

    events = movielens.events[movielens.events["user_id"] <= 40].reset_index(drop=True)
    items = movielens.items[movielens.items["item_id"].isin(events["item_id"])]
    home = tmp_path_factory.mktemp("eval-model-home")
    train = {
        "device": "cpu",
        "hidden_dim": 16,
        "num_heads": 2,
        "num_layers": 1,
        "max_len": 20,
        "epochs": 2,
        "batch_size": 32,
        "warmup_steps": 2,
        "lr": 5e-3,
    }
    settings = Settings(home=home, cache_dir=embedding_cache_dir, train=train)
    split = leave_one_out(events)
    result = train_recommender(settings, split.train, items, out_dir=home / "model")
    return load_recommender(str(result.model_dir)), result.model_dir, split, items


def test_recommender_is_a_scorer_and_is_measured_with_text_ild(tiny_model):
    model, _, split, items = tiny_model
    assert isinstance(model, Scorer) and supports_mmr(model)
    cases = loo_cases(split, "test")
    result = evaluate_scorer(
        model,
        cases,
        k=10,
        items=items,
        popularity=split.train,
        item_embeddings=model.item_text_embeddings,
    )
    assert result.ild_source == "text" and result.n_cases == 40
    assert all(np.isfinite(v) for v in result.metrics.values())
    for row in range(len(cases)):
        assert not set(result.top_items[row]) & set(cases.exclude[row])


def test_mmr_frontier_trades_relevance_for_diversity(tiny_model):
    model, _, split, items = tiny_model
    cases = loo_cases(split, "test")
    options = dict(items=items, popularity=split.train, item_embeddings=model.item_text_embeddings)
    frontier = mmr_frontier(model, cases, [1.0, 0.3], k=10, **options)
    plain = evaluate_scorer(model, cases, k=10, **options)
    pure = frontier.set_index("lambda").loc[1.0]
    # lambda = 1 is the plain ranking: the same lists, so the same metrics
    for name in ("recall", "ndcg", "coverage", "ild"):
        assert pure[name] == pytest.approx(plain.metrics[f"{name}@10"])
    assert frontier.set_index("lambda").loc[0.3, "ild"] > pure["ild"]


def test_cli_evaluates_a_model_dir_and_logs_the_frontier(
    tiny_model, ml_store, run_cli, monkeypatch
):
    from mlflow import MlflowClient

    _, model_dir, _, _ = tiny_model
    monkeypatch.setenv("RECLOOP_EVAL__FRONTIER_CASES", "30")
    monkeypatch.setenv("RECLOOP_EVAL__MMR_LAMBDAS", "[1.0, 0.5]")
    code, _, stderr, payload = run_cli(
        "evaluate", "--model", str(model_dir), "--protocol", "loo", "--json"
    )
    assert code == 0, stderr
    assert payload["users"] == 943 and payload["ild_source"] == "text"
    client = MlflowClient(ml_store.mlflow_tracking_uri.get_secret_value())
    run = client.get_run(payload["run_id"])
    assert run.data.metrics["ndcg_at_10"] == pytest.approx(payload["metrics"]["ndcg@10"])
    assert run.data.params["protocol"] == "loo"
    history = client.get_metric_history(payload["run_id"], "curve_ndcg")
    assert sorted(m.step for m in history) == [1, 5, 10, 20, 50]
    files = {a.path for a in client.list_artifacts(payload["run_id"], "evaluation")}
    plots = {a.path for a in client.list_artifacts(payload["run_id"], "evaluation/plots")}
    assert {"evaluation/frontier.json", "evaluation/slice_activity.json"} <= files
    assert {"evaluation/plots/frontier.png", "evaluation/plots/metric_vs_k.png"} <= plots


def test_batched_frontier_lists_equal_recommend(tiny_model):
    from recloop.evaluation.curves import _batched_mmr_lists, _masked_scores, _recommend_lists

    model, _, split, _ = tiny_model
    cases = loo_cases(split, "test").subset(np.arange(40) < 15)
    scores = _masked_scores(model, cases)
    for lam in (1.0, 0.5, 0.0):
        np.testing.assert_array_equal(
            _batched_mmr_lists(model, cases, scores, lam, 10),
            _recommend_lists(model, cases, lam, 10),
        )


def test_next_window_defaults_to_the_models_training_end(tiny_model):
    from recloop.evaluation.run import model_cutoff

    model, _, _, _ = tiny_model
    assert model_cutoff(model) == int(model.config["window_end"]) - 1
    assert model_cutoff(object()) is None
