"""Acting on a gate decision (the "pusher"): record it, promote a passing version.

The decision is written as model-version tags (verdict, reasons, one tag per check),
metrics on the version's run, and the registered model's last-decision tag; a passing
version is then promoted through ``recloop.registry.promote`` (which checks that it loads
and answers). Recording and promoting hold the registry lock together.
"""

from __future__ import annotations

import math
import time

from recloop import registry
from recloop.gate.decision import GateDecision, format_value
from recloop.registry import HistoryEntry, registry_lock
from recloop.settings import Settings
from recloop.tracking import metric_key


def decision_tags(decision: GateDecision) -> dict[str, str]:
    """Model-version tags: the verdict, its reasons, and one tag per check."""
    tags = {
        registry.TAG_GATE_DECISION: registry.PASSED if decision.passed else registry.REJECTED,
        registry.TAG_GATE_RULE: decision.rule,
        registry.TAG_GATE_POLICY: str(decision.policy_version),
        registry.TAG_GATE_REASONS: "; ".join(decision.reasons)[:5000],
    }
    for check in decision.checks:
        key = f"{registry.TAG_GATE_CHECK_PREFIX}{metric_key(check.name)}"
        verdict = "pass" if check.passed else "fail"
        tags[key] = (
            f"{verdict} value={format_value(check.value)} threshold={format_value(check.threshold)}"
        )
    return tags


def decision_metrics(decision: GateDecision) -> dict[str, float]:
    """MLflow metrics: pass flag, every check's value, both models' holdout metrics."""
    metrics = {"gate/passed": float(decision.passed)}
    for check in decision.checks:
        if check.value is not None and math.isfinite(check.value):
            metrics[f"gate/{metric_key(check.name)}"] = float(check.value)
    for role, values in (
        ("challenger", decision.challenger_metrics),
        ("champion", decision.champion_metrics or {}),
    ):
        for name, value in values.items():
            if value is not None and math.isfinite(value):
                metrics[f"gate/{role}/{metric_key(name)}"] = float(value)
    return metrics


def record_decision(settings: Settings, version: str, decision: GateDecision) -> None:
    """Write the decision as version tags, metrics on the version's run, and last decision."""
    from mlflow import MlflowClient  # heavy: imported when a decision is recorded
    from mlflow.entities import Metric

    info = registry.get_version(settings, version)
    registry.set_version_tags(settings, info.version, decision_tags(decision))
    if info.run_id:
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in decision_metrics(decision).items()]
        MlflowClient().log_batch(info.run_id, metrics=metrics)
    registry.record_last_decision(
        settings,
        {
            "version": info.version,
            "passed": decision.passed,
            "rule": decision.rule,
            "reasons": decision.reasons,
            "policy_version": decision.policy_version,
            "at": int(time.time()),
        },
    )


def apply_decision(settings: Settings, version: str, decision: GateDecision) -> HistoryEntry | None:
    """Record the decision; promote ``version`` only when it passed.

    A rejected version keeps its ``challenger`` alias (for inspection) and the champion
    does not move. Recording and promoting hold the registry lock together, so the last
    decision and the history name the same version. Returns the promotion's
    ``HistoryEntry``, or None when rejected.
    """
    with registry_lock(settings):
        record_decision(settings, version, decision)
        if not decision.passed:
            return None
        return registry.promote(settings, version)
