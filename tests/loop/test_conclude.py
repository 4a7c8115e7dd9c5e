"""The loop's conclusion: a passing candidate is promoted only while the champion it was
gated against still reigns (training and the gate run without the registry lock)."""

from __future__ import annotations

import pytest

from recloop import registry
from recloop.gate import Check, GateDecision, render_markdown
from recloop.loop import stages as continual
from recloop.loop.plan import StepPlan
from recloop.loop.train import Candidate

from ..registry.test_registry import mark_passed, register


def passing_decision() -> GateDecision:
    check = Check("floor/ndcg@10", "floor", True, 0.2, 0.1)
    decision = GateDecision(True, "compare", [], [check], 1, {"ndcg@10": 0.2}, {"ndcg@10": 0.1})
    decision.markdown = render_markdown(decision)
    return decision


def step_plan(parent) -> StepPlan:
    return StepPlan("incremental", 0, 100, 200, parent)


@pytest.fixture
def champion_and_candidate(settings, tmp_path):
    """v1 champion; v2 trained from it and about to conclude; v3 for an operator."""
    v1 = register(settings, tmp_path, 1).version
    mark_passed(settings, v1)
    registry.promote(settings, v1)
    plan = step_plan(registry.get_version(settings, v1))
    v2 = register(settings, tmp_path, 2, parent=v1).version
    candidate = Candidate(v2, f"models:/{settings.registry.model_name}/{v2}", None, 0)
    return v1, plan, candidate


def test_a_candidate_gated_against_the_champion_is_promoted_once(settings, champion_and_candidate):
    _, plan, candidate = champion_and_candidate

    status, recorded = continual.conclude(settings, plan, candidate, passing_decision())
    assert (status, recorded.passed) == ("promoted", True)
    assert registry.get_champion(settings).version == candidate.version
    history = registry.promotion_history(settings)

    # A retried conclusion (the task failed after promoting) changes nothing.
    again, _ = continual.conclude(settings, plan, candidate, passing_decision())
    assert again == "promoted"
    assert registry.promotion_history(settings) == history


def test_a_candidate_whose_champion_moved_meanwhile_is_not_promoted(
    settings, tmp_path, champion_and_candidate
):
    v1, plan, candidate = champion_and_candidate
    v3 = register(settings, tmp_path, 3).version
    mark_passed(settings, v3)
    registry.promote(settings, v3)  # an operator, while the candidate trained
    history = registry.promotion_history(settings)

    status, recorded = continual.conclude(settings, plan, candidate, passing_decision())

    assert status == "rejected" and not recorded.passed
    assert f"champion changed from version {v1} to {v3}" in recorded.reasons[-1]
    assert "superseded" in recorded.markdown
    assert registry.get_champion(settings).version == v3
    assert registry.promotion_history(settings) == history
    tags = registry.get_version(settings, candidate.version).tags
    assert tags[registry.TAG_GATE_DECISION] == registry.REJECTED
    run_id = registry.get_version(settings, candidate.version).run_id
    checks = registry.describe.load_run_json(run_id, "gate/checks.json")
    assert "champion changed" in checks["reasons"][-1]
    last = registry.read_model_tag_json(settings, registry.TAG_LAST_DECISION)
    assert last["version"] == candidate.version and last["passed"] is False
