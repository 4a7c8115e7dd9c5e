"""Registry behaviour on a real MLflow SQLite store with small real pyfunc models.

One MLflow database per module (creating one costs ~5 s); each test registers under its
own model name so tests stay independent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recloop import registry
from recloop.errors import NotFoundError, RecloopError
from recloop.registry import CandidateLineage


class FirstItems:
    """A real (if trivial) pyfunc: recommends the first items of the catalog."""

    @staticmethod
    def build():
        import mlflow
        import pandas as pd

        class _Model(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return pd.DataFrame({"items": [[1, 2, 3]] * len(model_input)})

        return _Model()


def log_tiny_pyfunc(model_dir, *, registered_model_name):
    """Stand-in for ``log_recommender`` with the same contract, for registry-only tests."""
    import mlflow

    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=FirstItems.build(),
        pip_requirements=["mlflow", "pandas"],
        registered_model_name=registered_model_name,
    )
    return info.model_uri, info.registered_model_version


def register(settings, tmp_path: Path, n: int, *, events=None, parent=None):
    lineage = CandidateLineage(
        train_mode="incremental" if parent else "full",
        encoder_mode="frozen",
        window_start=100 * n,
        window_end=100 * n + 100,
        batch_ids=(f"b{n}a", f"b{n}b"),
        parent_version=parent,
    )
    return registry.register_candidate(
        settings,
        tmp_path,
        lineage,
        train_events=events,
        metrics={"ndcg@10": 0.1 * n},
        params={"epochs": 1},
        log_model=log_tiny_pyfunc,
    )


def mark_passed(settings, version: str) -> None:
    registry.set_version_tags(settings, version, {registry.TAG_GATE_DECISION: registry.PASSED})


def test_registered_candidate_carries_lineage_dataset_and_challenger_alias(
    settings, tmp_path, movielens
):
    import mlflow

    events = movielens.events.head(500)
    cand = register(settings, tmp_path, 1, events=events, parent="7")

    info = registry.get_version(settings, cand.version)
    assert info.tags[registry.TAG_TRAIN_MODE] == "incremental"
    assert info.tags[registry.TAG_PARENT_VERSION] == "7"
    assert (info.window_start, info.window_end) == (100, 200)
    assert registry.get_alias(settings, "challenger").version == cand.version
    assert registry.get_champion(settings) is None

    run = mlflow.get_run(cand.run_id)
    assert run.data.tags[registry.TAG_BATCH_IDS] == "b1a,b1b"
    assert run.data.tags[registry.TAG_CODE_VERSION].startswith("0.")
    assert run.info.run_name == "incremental 1970-01-01..1970-01-01"
    assert run.data.metrics["ndcg_at_10"] == pytest.approx(0.1)
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "events incremental 1970-01-01..1970-01-01"
    description = mlflow.MlflowClient().get_model_version(
        settings.registry.model_name, cand.version
    )
    assert "**UNDER EVALUATION**" in description.description
    assert "warm-started from version 7" in description.description
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == 500
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"


def test_promotion_requires_a_passed_gate_unless_forced_with_reason(settings, tmp_path):
    v1 = register(settings, tmp_path, 1).version

    with pytest.raises(RecloopError, match="has not passed the gate"):
        registry.promote(settings, v1)
    with pytest.raises(RecloopError, match="needs --reason"):
        registry.promote(settings, v1, force=True)
    with pytest.raises(NotFoundError, match="no version 99"):
        registry.promote(settings, "99")
    assert registry.get_champion(settings) is None

    entry = registry.promote(settings, v1, force=True, reason="incident 42")
    champion = registry.get_champion(settings)
    assert champion.version == v1
    assert champion.tags[registry.TAG_GATE_DECISION] == registry.FORCED
    assert champion.tags[registry.TAG_FORCED_REASON] == "incident 42"
    assert entry.forced and entry.reason == "incident 42"
    assert registry.get_alias(settings, "challenger") is None  # promoted: no longer a challenger
    assert registry.promotion_history(settings)[-1] == entry


def test_rollback_walks_back_through_the_history_more_than_once(settings, tmp_path):
    versions = []
    for n in (1, 2, 3):
        version = register(settings, tmp_path, n).version
        mark_passed(settings, version)
        registry.promote(settings, version)
        versions.append(version)
    v1, v2, v3 = versions
    assert registry.get_champion(settings).version == v3
    assert registry.get_alias(settings, "previous").version == v2

    first = registry.rollback(settings, reason="bad CTR")
    assert (first.version, first.replaced) == (v2, v3)
    assert registry.get_champion(settings).version == v2
    assert registry.get_alias(settings, "previous").version == v1
    assert registry.get_version(settings, v3).tags[registry.TAG_ROLLED_BACK_AT]

    registry.rollback(settings)
    assert registry.get_champion(settings).version == v1
    assert registry.get_alias(settings, "previous") is None
    with pytest.raises(NotFoundError, match="nothing to roll back to"):
        registry.rollback(settings)

    history = registry.promotion_history(settings)
    assert [(e.action, e.version) for e in history] == [
        ("promote", v1),
        ("promote", v2),
        ("promote", v3),
        ("rollback", v2),
        ("rollback", v1),
    ]
    assert registry.champion_stack(history) == [v1]


def test_champion_stack_drops_rolled_back_reigns():
    def entry(action, version):
        return registry.HistoryEntry(action, version, None, 0, "t")

    history = [entry("promote", "1"), entry("promote", "2"), entry("rollback", "1")]
    assert registry.champion_stack([*history, entry("promote", "3")]) == ["1", "3"]
