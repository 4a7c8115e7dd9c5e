"""End to end: the real ``continual`` flow, twice, under Prefect's test harness.

Small real data (120 MovieLens users, five weeks), a tiny frozen-encoder model and a
permissive gate, so the test checks the loop's mechanics: what is ingested, trained,
registered, gated and promoted, and that a repeated run changes nothing.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow]


def champion_version(settings) -> str | None:
    from recloop.registry import get_champion

    champion = get_champion(settings)
    return champion.version if champion else None


def _continual_flow(settings):
    from recloop.loop.flows import continual

    return continual


def test_two_runs_register_gate_and_promote(loop_env, slice_batches, prefect_harness):
    from mlflow import MlflowClient

    from recloop.registry import (
        TAG_GATE_DECISION,
        TAG_PARENT_VERSION,
        TAG_RUN_KEY,
        TAG_TRAIN_MODE,
        TAG_WINDOW_END,
        get_alias,
        promotion_history,
    )

    settings = loop_env
    items, first, second = slice_batches
    continual = _continual_flow(settings)

    # Run 1: no champion yet -> full training, bootstrap gate rule, promotion.
    out1 = continual(paths=[str(items), str(first)])
    assert out1["status"] == "promoted", out1["reasons"]
    assert out1["plan"]["mode"] == "full"
    assert [r["status"] for r in out1["ingest"]] == ["accepted", "accepted"]
    assert champion_version(settings) == "1"
    client = MlflowClient()
    v1 = client.get_model_version(settings.registry.model_name, "1")
    assert v1.tags[TAG_GATE_DECISION] == "passed"
    assert v1.tags[TAG_TRAIN_MODE] == "full"
    assert int(v1.tags[TAG_WINDOW_END]) == out1["plan"]["holdout_start"]

    # Run 2: a new week -> incremental fine-tune from v1, gated against v1.
    out2 = continual(paths=[str(second)])
    assert out2["plan"]["mode"] == "incremental"
    assert out2["plan"]["train_start"] == out1["plan"]["holdout_start"]  # nothing skipped
    assert out2["status"] in {"promoted", "rejected"}
    v2 = client.get_model_version(settings.registry.model_name, "2")
    assert v2.tags[TAG_PARENT_VERSION] == "1"
    assert v2.tags[TAG_TRAIN_MODE] == "incremental"
    assert v2.tags[TAG_RUN_KEY] == out2["plan"]["run_key"]
    expected = "passed" if out2["status"] == "promoted" else "rejected"
    assert v2.tags[TAG_GATE_DECISION] == expected
    if out2["status"] == "promoted":
        assert champion_version(settings) == "2"
        assert get_alias(settings, settings.registry.previous_alias).version == "1"
    else:
        assert champion_version(settings) == "1"  # a rejected candidate never moves it
        # A rejected candidate is no challenger: the list page headlines the champion.
        assert get_alias(settings, settings.registry.challenger_alias) is None
    history_before = len(promotion_history(settings))

    # Run 2 again (a retried or duplicate schedule): no new version, no promotion.
    again = continual(paths=[str(second)])
    assert again["status"] in {"already-done", "no-new-data"}
    assert all(r["status"] == "duplicate" for r in again["ingest"])
    versions = client.search_model_versions(f"name = '{settings.registry.model_name}'")
    assert len(versions) == 2
    assert len(promotion_history(settings)) == history_before
