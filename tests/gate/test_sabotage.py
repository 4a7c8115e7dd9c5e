"""The gate holds against bad challengers: real tiny models on a real MovieLens slice.

A champion is trained (frozen encoder, tiny network) on the first ~20k events, passes the
gate by the bootstrap rule (including the fresh-process load) and is promoted. Then each
sabotaged challenger is registered, evaluated against it on the same next-week holdout,
and must be rejected for the right reason while the champion stays where it is:

- item vectors shuffled (the index no longer matches the items);
- trained on a garbage batch (uniformly random user/item pairs, the kind validation
  quarantines as bot traffic) instead of real behaviour;
- NaN in part of the item index (scores NaN);
- the real model behind a pyfunc that sleeps on every request (latency).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recloop import gate, registry
from recloop.registry import CandidateLineage

pytestmark = pytest.mark.slow

TRAIN_EVENTS = 12_000
GARBAGE_EVENTS = 4_000
SLEEP_SECONDS = 2.0  # far above the test budget below, whatever the machine load
HOLDOUT_DAYS = 7
CASES_PER_USER = 6  # ~49 holdout users, ~290 cases: the bootstrap resamples users
TINY = {
    "hidden_dim": 16,
    "num_heads": 1,
    "num_layers": 1,
    "max_len": 20,
    "epochs": 2,
    "batch_size": 128,
    "warmup_steps": 0,
    "patience": 1,
}
HERE = Path(__file__).resolve().parent


@dataclass
class World:
    settings: object
    policy: gate.GatePolicy
    cases: object
    items: pd.DataFrame
    train_events: pd.DataFrame
    champion_version: str
    champion_dir: Path
    bootstrap_decision: gate.GateDecision
    tmp: Path


def tiny_model_policy(settings) -> gate.GatePolicy:
    """The shipped policy, floors scaled to a 2-epoch tiny model, short latency sample."""
    policy = gate.load_gate_policy(settings.gate.policy_file)
    # Generous budget: tiny torch ops get slow on a loaded 2-core CI machine.
    infra = policy.infrastructure.model_copy(
        update={"latency_requests": 3, "p95_latency_ms": 1000 * SLEEP_SECONDS * 0.75}
    )
    floors = {"ndcg@10": 0.005, "recall@10": 0.01, "coverage@10": 0.005}
    return policy.model_copy(update={"floors": floors, "infrastructure": infra})


@pytest.fixture(scope="module")
def world(tmp_path_factory, movielens, embedding_cache_dir) -> World:
    from recloop.evaluation import next_window_cases
    from recloop.settings import Settings
    from recloop.training.trainer import train_recommender

    tmp = tmp_path_factory.mktemp("gate-sabotage")
    settings = Settings(
        home=tmp / "home",
        cache_dir=embedding_cache_dir,
        train=TINY,
        eval={"bootstrap_samples": 500},
    )
    events = movielens.events.sort_values("timestamp", kind="stable").reset_index(drop=True)
    train = events.iloc[:TRAIN_EVENTS]
    cut = int(train["timestamp"].max())
    cases = next_window_cases(events, cut, HOLDOUT_DAYS * 86400)
    cases = cases.subset(latest_cases_per_user(cases.user_ids, CASES_PER_USER))
    champion_dir = train_recommender(
        settings, train, movielens.items, out_dir=tmp / "champ"
    ).model_dir

    policy = tiny_model_policy(settings)
    version = register(settings, champion_dir, parent=None)
    decision = gate.evaluate_gate(
        settings,
        f"models:/{settings.registry.model_name}/{version}",
        None,
        cases,
        items=movielens.items,
        popularity=train,
        policy=policy,
    )
    gate.apply_decision(settings, version, decision)
    no_fresh = policy.infrastructure.model_copy(update={"fresh_process_load": False})
    return World(
        settings,
        policy.model_copy(update={"infrastructure": no_fresh}),
        cases,
        movielens.items,
        train,
        version,
        champion_dir,
        decision,
        tmp,
    )


def latest_cases_per_user(user_ids: np.ndarray, n: int) -> np.ndarray:
    """Mask keeping each user's last ``n`` cases (cases are in time order)."""
    from_end = pd.Series(user_ids[::-1]).groupby(user_ids[::-1]).cumcount().to_numpy()[::-1]
    return from_end < n


def register(settings, model_dir, parent, log_model=None) -> str:
    lineage = CandidateLineage("incremental" if parent else "full", 0, 1, "frozen", ("b1",), parent)
    return registry.register_candidate(settings, model_dir, lineage, log_model=log_model).version


def challenge(world: World, model_dir: Path, log_model=None) -> gate.GateDecision:
    """Register, gate and apply; the champion must not move whatever the outcome."""
    import mlflow

    settings = world.settings
    version = register(settings, model_dir, world.champion_version, log_model)
    name = settings.registry.model_name
    decision = gate.evaluate_gate(
        settings,
        f"models:/{name}/{version}",
        f"models:/{name}@champion",
        world.cases,
        items=world.items,
        popularity=world.train_events,
        policy=world.policy,
    )
    assert gate.apply_decision(settings, version, decision) is None
    assert registry.get_champion(settings).version == world.champion_version
    assert registry.get_alias(settings, "challenger") is None  # rejected: no alias left
    info = registry.get_version(settings, version)
    assert info.tags[registry.TAG_GATE_DECISION] == "rejected"
    checks = mlflow.artifacts.load_dict(f"runs:/{info.run_id}/gate/checks.json")
    assert checks["reasons"] == decision.reasons
    assert {c["name"] for c in checks["checks"]} >= {"floor/ndcg@10"}
    description = mlflow.MlflowClient().get_model_version(info.model_uri.split("/")[1], version)
    assert "**REJECTED**" in description.description
    assert decision.reasons[0] in description.description
    metrics = mlflow.get_run(info.run_id).data.metrics
    assert metrics["diag/gate_passed"] == 0.0
    assert metrics["ndcg_at_10"] == pytest.approx(decision.challenger_metrics["ndcg@10"])
    return decision


def copy_model(world: World, name: str) -> Path:
    target = world.tmp / name
    shutil.copytree(world.champion_dir, target)
    return target


def reasons(decision) -> str:
    return " | ".join(decision.reasons)


def test_first_model_passes_by_the_bootstrap_rule_and_becomes_champion(world):
    import mlflow

    decision = world.bootstrap_decision
    assert decision.passed, decision.reasons
    assert decision.rule == "bootstrap"
    fresh = next(c for c in decision.checks if c.name == "infra/fresh_process_load")
    assert fresh.passed
    champion = registry.get_champion(world.settings)
    assert champion.version == world.champion_version
    assert champion.tags[registry.TAG_GATE_DECISION] == "passed"
    checks = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/gate/checks.json")
    assert checks["rule"] == "bootstrap" and checks["decision"] == "passed"
    description = (
        mlflow.MlflowClient()
        .get_model_version(world.settings.registry.model_name, champion.version)
        .description
    )
    assert "**CHAMPION**" in description and "bootstrap rule" in description
    last = registry.read_model_tag_json(world.settings, registry.TAG_LAST_DECISION)
    assert last["version"] == world.champion_version and last["passed"] is True


def test_shuffled_item_vectors_are_rejected_for_relevance(world):
    model_dir = copy_model(world, "shuffled")
    vectors = np.load(model_dir / "item_vectors.npy")
    np.save(
        model_dir / "item_vectors.npy", vectors[np.random.default_rng(0).permutation(len(vectors))]
    )
    decision = challenge(world, model_dir)
    assert not decision.passed
    assert "ndcg@10 regressed beyond" in reasons(decision)
    assert decision.challenger_metrics["ndcg@10"] < decision.champion_metrics["ndcg@10"]


def test_model_trained_on_a_garbage_batch_is_rejected(world, movielens):
    from recloop.training.trainer import train_recommender

    rng = np.random.default_rng(1)
    garbage = world.train_events.iloc[:GARBAGE_EVENTS].copy()
    garbage["user_id"] = rng.choice(garbage["user_id"].unique(), len(garbage))
    garbage["item_id"] = rng.choice(movielens.items["item_id"].to_numpy(), len(garbage))
    one_epoch = world.settings.model_copy(
        update={"train": world.settings.train.model_copy(update={"epochs": 1})}
    )
    model_dir = train_recommender(one_epoch, garbage, world.items, out_dir=world.tmp / "garbage")
    model_dir = model_dir.model_dir
    decision = challenge(world, model_dir)
    assert not decision.passed
    assert "ndcg@10 regressed beyond" in reasons(decision)
    assert any(c.name == "significance/ndcg@10" and not c.passed for c in decision.checks)


def test_model_returning_nan_is_rejected(world):
    model_dir = copy_model(world, "nan")
    vectors = np.load(model_dir / "item_vectors.npy")
    vectors[::3] = np.nan
    np.save(model_dir / "item_vectors.npy", vectors)
    decision = challenge(world, model_dir)
    assert not decision.passed
    assert "NaN/inf values in scores" in reasons(decision)


def test_much_slower_model_is_rejected_for_latency(world):
    import mlflow

    from recloop.serving.packaging import log_recommender

    def log_sleeping(model_dir, *, registered_model_name):
        inner_uri, _ = log_recommender(model_dir, registered_model_name=None)
        inner = mlflow.artifacts.download_artifacts(inner_uri, dst_path=str(world.tmp / "inner"))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(HERE / "sleeping_pyfunc.py"),
            artifacts={"inner": inner},
            model_config={"delay_seconds": SLEEP_SECONDS},
            pip_requirements=["mlflow"],
            registered_model_name=registered_model_name,
        )
        return info.model_uri, info.registered_model_version

    decision = challenge(world, world.champion_dir, log_model=log_sleeping)
    assert not decision.passed
    latency = next(c for c in decision.checks if c.name == "infra/p95_latency_ms")
    assert not latency.passed and latency.value >= 1000 * SLEEP_SECONDS
    assert "p95 latency" in reasons(decision)
    # Same weights as the champion: relevance within tolerance; latency is what fails.
    assert not any("regressed" in r for r in decision.reasons)


def test_evaluation_errors_and_a_missing_policy_reject(world, tmp_path):
    from recloop.settings import GateSettings

    settings = world.settings
    name = settings.registry.model_name
    missing = gate.evaluate_gate(
        settings,
        f"models:/{name}/999",
        f"models:/{name}@champion",
        world.cases,
        items=world.items,
        policy=world.policy,
    )
    assert not missing.passed
    assert missing.reasons[0].startswith("evaluation error: NotFoundError")
    no_policy = settings.model_copy(
        update={"gate": GateSettings(policy_file=tmp_path / "none.yaml")}
    )
    unconfigured = gate.evaluate_gate(
        no_policy, f"models:/{name}@champion", None, world.cases, items=world.items
    )
    assert not unconfigured.passed and "gate policy" in unconfigured.reasons[0]


def test_champion_never_moved_and_history_has_one_promotion(world):
    history = registry.promotion_history(world.settings)
    assert [(e.action, e.version) for e in history] == [("promote", world.champion_version)]
