"""The policy file's rules and the retrain trigger policy (pure functions)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from recloop.drift.detect import FeatureStat, decide
from recloop.drift.policy import load_policy
from recloop.drift.triggers import decide_retrain
from recloop.errors import UnusableInputError
from recloop.settings import Settings


def _stat(name: str, score: float, policy, kind="numerical") -> FeatureStat:
    rule = policy.rule_for(name, kind)
    return FeatureStat(
        name, kind, rule.method, rule.threshold, score, rule.drifted(score), rule.alarm, 100, 100
    )


def test_default_policy_uses_distances_and_recloops_own_decision():
    policy = load_policy(Settings().drift.policy_file)
    rule = policy.rule_for("events.value", "numerical")
    assert rule.method == "wasserstein" and not rule.is_pvalue
    assert rule.drifted(rule.threshold) and not rule.drifted(rule.threshold - 1e-9)
    assert policy.rule_for("no.such_feature", "categorical").method == "jensenshannon"
    stats = [_stat("events.value", 0.9, policy), _stat("events.hour", 0.9, policy, "categorical")]
    assert policy.rule_for("events.hour", "categorical").alarm is False
    drifted, share, detected = decide(stats, policy)
    assert drifted == ["events.value"] and share == 1.0 and detected
    quiet = [_stat("events.value", 0.01, policy), _stat("events.hour", 0.9, policy, "categorical")]
    assert decide(quiet, policy) == ([], 0.0, False)  # a monitored-only feature never alarms


def test_pvalue_methods_drift_below_the_threshold(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "defaults:\n  numerical: {method: ks, threshold: 0.05}\n"
        "  categorical: {method: chisquare, threshold: 0.05}\n"
        "decision: {min_drifted_features: 2, min_share_drifted: 0.5}\n"
    )
    policy = load_policy(path)
    rule = policy.rule_for("events.value", "numerical")
    assert rule.is_pvalue and rule.drifted(0.01) and not rule.drifted(0.5)
    one = [_stat("a.x", 0.01, policy), _stat("a.y", 0.9, policy), _stat("a.z", 0.9, policy)]
    assert decide(one, policy)[2] is False  # one drifted feature is below min_drifted_features=2


def test_bad_policy_files_fail_with_one_line(tmp_path):
    with pytest.raises(UnusableInputError, match="not found"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "defaults:\n  numerical: {method: wassersteinn, threshold: 0.1}\n"
        "  categorical: {method: psi, threshold: 0.1}\n"
    )
    with pytest.raises(UnusableInputError, match="unknown method"):
        load_policy(bad)


def _drift(detected: bool, ref_rel=None, cur_rel=None, cases=500):
    summary = {"relevance_hit_rate": ref_rel, "relevance_cases": cases}
    return SimpleNamespace(
        drift_detected=detected,
        drifted_features=["events.value", "users.mean_value"] if detected else [],
        relevance=(ref_rel, cur_rel),
        reference_summary=summary,
        current_summary={"relevance_hit_rate": cur_rel, "relevance_cases": cases},
        current_window=(0, 100),
    )


def test_retrain_triggers_each_give_a_reason():
    settings = Settings()
    day = 86_400
    quiet = decide_retrain(
        settings,
        drift=_drift(False, 0.20, 0.19),
        champion_window_end=0,
        new_events=10,
        data_end=day,
    )
    assert not quiet.should_retrain and quiet.reasons == []
    assert quiet.checks["relevance_decay"] == pytest.approx(0.05)
    drifted = decide_retrain(settings, drift=_drift(True), data_end=day)
    assert drifted.should_retrain and drifted.reasons == [
        "drift detected in events.value, users.mean_value"
    ]
    decayed = decide_retrain(settings, drift=_drift(False, 0.20, 0.10))
    assert decayed.reasons == ["live relevance fell 50% (hit rate@10 0.200 -> 0.100; limit 20%)"]
    too_few = decide_retrain(settings, drift=_drift(False, 0.20, 0.10, cases=10))
    assert not too_few.should_retrain  # 10 next-item cases cannot show decay
    old = decide_retrain(settings, champion_window_end=0, data_end=31 * day)
    assert old.reasons == ["champion is 31.0 days old (max 30)"]
    busy = decide_retrain(settings, new_events=settings.drift.min_new_events)
    assert busy.should_retrain and "new events" in busy.reasons[0]
    assert decide_retrain(settings, has_champion=False).reasons == [
        "no champion in the registry yet"
    ]
    settings.drift.retrain_on_drift = False
    assert not decide_retrain(settings, drift=_drift(True)).should_retrain
