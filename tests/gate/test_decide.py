"""The gate's decision logic as pure functions over metric dicts and per-user arrays."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from recloop import gate
from recloop.errors import RecloopError
from recloop.gate import InfraProbe, decide, load_gate_policy
from recloop.settings import Settings

GOOD_PROBE = InfraProbe(True, "ok", 50, 50, 0, 12.0)
CHAMPION = {
    "ndcg@10": 0.10,
    "recall@10": 0.20,
    "mrr@10": 0.08,
    "coverage@10": 0.30,
    "ild@10": 0.50,
    "novelty@10": 9.0,
    "gini@10": 0.8,
}


@pytest.fixture(scope="module")
def policy():
    return load_gate_policy(Settings().gate.policy_file)


def per_user(mean: float, n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(mean, 0.05, n), 0, 1)


def reasons_text(decision) -> str:
    return " | ".join(decision.reasons)


def test_shipped_policy_sets_floors_tolerances_gain_and_infra(policy):
    assert policy.floors and policy.primary_metric in policy.tolerances
    relevance = {"ndcg@10", "recall@10", "mrr@10"}
    diversity = {"ild@10", "novelty@10"}
    assert relevance <= set(policy.tolerances) and diversity <= set(policy.tolerances)
    # Catalogue coverage: a floor, no tolerance against the champion (the Beauty replay).
    assert "coverage@10" in policy.floors and "coverage@10" not in policy.tolerances
    assert 0 < policy.required_gain.alpha < 1
    assert policy.infrastructure.fresh_process_load


def test_policy_without_floors_or_unreadable_fails_closed(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 2\n")
    with pytest.raises(RecloopError, match="invalid"):
        load_gate_policy(empty)
    no_floors = tmp_path / "nofloors.yaml"
    text = (Settings().gate.policy_file).read_text()
    no_floors.write_text(re.sub(r"floors:\n(  .*\n)+", "floors: {}\n", text))
    with pytest.raises(RecloopError, match="no absolute floors"):
        load_gate_policy(no_floors)
    with pytest.raises(RecloopError) as missing:
        load_gate_policy(tmp_path / "nope.yaml")
    assert missing.value.exit_code == 2


def test_bootstrap_rule_uses_floors_and_infrastructure_only(policy):
    metrics = {"ndcg@10": 0.05, "recall@10": 0.1, "coverage@10": 0.2}
    decision = decide(policy, metrics, None, GOOD_PROBE)
    assert decision.passed and decision.rule == "bootstrap"
    kinds = {c.kind for c in decision.checks}
    assert kinds == {"finite", "floor", "infra"}

    below = decide(policy, {**metrics, "recall@10": 0.001}, None, GOOD_PROBE)
    assert not below.passed
    assert "recall@10 value threshold check failed" in reasons_text(below)  # MLflow's message


@pytest.mark.parametrize("bad", [None, float("nan"), float("inf")])
def test_missing_or_non_finite_metric_rejects(policy, bad):
    metrics = {"ndcg@10": 0.12, "recall@10": 0.25, "coverage@10": 0.3}
    if bad is None:
        del metrics["recall@10"]
    else:
        metrics["recall@10"] = bad
    decision = decide(policy, metrics, None, GOOD_PROBE)
    assert not decision.passed
    assert "challenger recall@10 is" in reasons_text(decision)


def test_champion_metric_missing_rejects_instead_of_skipping_comparison(policy):
    champion = {k: v for k, v in CHAMPION.items() if k != "ild@10"}
    decision = decide(
        policy,
        dict(CHAMPION),
        champion,
        GOOD_PROBE,
        challenger_per_user=per_user(0.1),
        champion_per_user=per_user(0.1),
    )
    assert not decision.passed
    assert "champion ild@10 is missing" in reasons_text(decision)


def test_significant_gain_without_regression_passes(policy):
    challenger = {**CHAMPION, "ndcg@10": 0.12}
    decision = decide(
        policy,
        challenger,
        CHAMPION,
        GOOD_PROBE,
        challenger_per_user=per_user(0.12),
        champion_per_user=per_user(0.10),
    )
    assert decision.passed, decision.reasons
    assert decision.rule == "compare"
    significance = next(c for c in decision.checks if c.name == "significance/ndcg@10")
    assert significance.value <= policy.required_gain.alpha


def test_gain_that_is_not_significant_rejects(policy):
    challenger = {**CHAMPION, "ndcg@10": 0.1005}
    decision = decide(
        policy,
        challenger,
        CHAMPION,
        GOOD_PROBE,
        challenger_per_user=per_user(0.10, seed=1),
        champion_per_user=per_user(0.10, seed=2),
    )
    assert not decision.passed
    assert "not significant" in reasons_text(decision)


def test_diversity_regression_beyond_tolerance_rejects_despite_relevance_gain(policy):
    challenger = {**CHAMPION, "ndcg@10": 0.12, "ild@10": 0.40}  # ILD 20% worse
    decision = decide(
        policy,
        challenger,
        CHAMPION,
        GOOD_PROBE,
        challenger_per_user=per_user(0.12),
        champion_per_user=per_user(0.10),
    )
    assert not decision.passed
    assert reasons_text(decision).startswith("ild@10 regressed beyond 10%")


def test_lower_is_better_metric_tolerance_uses_its_direction(policy):
    policy = policy.model_copy(update={"tolerances": {**policy.tolerances, "gini@10": 0.05}})
    worse = {**CHAMPION, "ndcg@10": 0.12, "gini@10": 0.9}  # more concentrated
    better = {**CHAMPION, "ndcg@10": 0.12, "gini@10": 0.6}
    kwargs = dict(challenger_per_user=per_user(0.12), champion_per_user=per_user(0.10))
    assert "gini@10 regressed" in reasons_text(
        decide(policy, worse, CHAMPION, GOOD_PROBE, **kwargs)
    )
    assert decide(policy, better, CHAMPION, GOOD_PROBE, **kwargs).passed


@pytest.mark.parametrize(
    ("probe", "reason"),
    [
        (InfraProbe(False, "ModuleNotFoundError: x", 50, 50, 0, 10.0), "fresh process"),
        (InfraProbe(True, "ok", 49, 50, 0, 10.0), "answered 49/50"),
        (InfraProbe(True, "ok", 50, 50, 7, 10.0), "7 NaN/inf"),
        (InfraProbe(True, "ok", 50, 50, 0, 900.0), "p95 latency 900.0 ms over budget"),
        (InfraProbe(True, "ok", 0, 0, 0, None), "answered 0/0"),
    ],
)
def test_infrastructure_failures_reject(policy, probe, reason):
    metrics = {"ndcg@10": 0.05, "recall@10": 0.1, "coverage@10": 0.2}
    decision = decide(policy, metrics, None, probe)
    assert not decision.passed
    assert reason in reasons_text(decision)


def test_error_decision_rejects_and_everything_is_recordable(policy):
    error = gate.rejected_by_error("evaluation error: boom", policy)
    assert not error.passed and error.reasons == ["evaluation error: boom"]

    challenger = {**CHAMPION, "ndcg@10": 0.12, "ild@10": 0.40}
    decision = decide(
        policy,
        challenger,
        CHAMPION,
        GOOD_PROBE,
        challenger_per_user=per_user(0.12),
        champion_per_user=per_user(0.10),
    )
    tags = gate.decision_tags(decision)
    valid_key = re.compile(r"^[/\w.\- :]*$")  # MLflow's rule for tag and metric names
    assert all(valid_key.match(k) for k in tags)
    assert tags == {
        "recloop.gate.decision": "rejected",
        "recloop.gate.policy_version": str(policy.version),
    }
    table = gate.record.check_table(decision, "5")
    (ild,) = [c for c in table["checks"] if c["name"] == "tolerance/ild@10"]
    assert not ild["passed"] and ild["value"] == pytest.approx(0.4)
    json.dumps(table, allow_nan=False)  # the artifact is standard JSON
    html = gate.record.check_table_html(table)
    assert "tolerance/ild@10" in html and "FAIL" in html
    metrics = gate.decision_metrics(decision)
    assert all(valid_key.match(k) and math.isfinite(v) for k, v in metrics.items())
    assert metrics["diag/gate_passed"] == 0.0 and metrics["diag/champion_ild_at_10"] == 0.5
    assert metrics["ild_at_10"] == pytest.approx(0.40)  # the headline key is the challenger's
    # Each number once: no per-check copies of the values (they are in the check table).
    assert not [k for k in metrics if k.startswith(("gate/", "diag/floor", "diag/tolerance"))]
    assert (
        "REJECTED" in decision.markdown and "| `tolerance/ild@10` | **FAIL** |" in decision.markdown
    )
