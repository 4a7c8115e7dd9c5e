"""Acting on a gate decision (the "pusher"): record it, promote a passing version.

What a decision leaves behind, each in the one place a person looks for it:

- two model-version tags, ``recloop.gate.decision`` and ``recloop.gate.policy_version``
  (the registry UI shows tags in a small box; a dozen check tags buried the verdict);
- the version's Markdown description, re-rendered (``recloop.registry.describe``): the
  decision, its reasons (a promotion's too), candidate vs champion with the gain's interval;
- the full check table as artifacts of the version's run: ``gate/checks.json`` (every
  check, every metric of both models, the gains with their intervals) and
  ``gate/checks.html``;
- run metrics: the challenger's holdout metrics under short headline keys
  (``ndcg_at_10``), everything else once under ``diag/`` (``recloop.tracking``);
- the registered model's last-decision tag (``recloop status``).

Every number is the gate's one aggregate (``recloop.gate.decision.AGGREGATE``). A rejected
version loses the ``challenger`` alias (``challenger`` means under evaluation, or passed and
not yet promoted); a passing one is promoted through ``recloop.registry.promote`` (which
checks that it loads and answers). Recording and promoting hold the registry lock together.
"""

from __future__ import annotations

import math
import time
from typing import Any

from recloop import registry
from recloop.gate.decision import GateDecision, format_value
from recloop.pages import render
from recloop.registry import HistoryEntry, registry_lock
from recloop.registry.client import client as registry_client
from recloop.registry.describe import CHECKS_ARTIFACT, CHECKS_HTML
from recloop.settings import Settings
from recloop.tracking import DIAG_PREFIX, is_headline, metric_key, run_metric_key


def decision_tags(decision: GateDecision) -> dict[str, str]:
    """Model-version tags: the verdict and the policy version, nothing else."""
    return {
        registry.TAG_GATE_DECISION: registry.PASSED if decision.passed else registry.REJECTED,
        registry.TAG_GATE_POLICY: str(decision.policy_version),
    }


def decision_metrics(decision: GateDecision) -> dict[str, float]:
    """Run metrics: headline challenger metrics short, the rest once under ``diag/``.

    The champion's values and the gains appear for headline metrics only
    (``diag/champion_ndcg_at_10``, ``diag/gain_ndcg_at_10``); each check's own value and
    threshold are in the check table artifact, not repeated here.
    """
    metrics: dict[str, float] = {f"{DIAG_PREFIX}gate_passed": float(decision.passed)}
    for name, value in decision.challenger_metrics.items():
        if _finite(value):
            metrics[run_metric_key(name)] = float(value)
    for name, value in (decision.champion_metrics or {}).items():
        if is_headline(name) and _finite(value):
            metrics[f"{DIAG_PREFIX}champion_{metric_key(name)}"] = float(value)
    for name, gain in decision.gains.items():
        if is_headline(name) and _finite(gain.get("diff")):
            metrics[f"{DIAG_PREFIX}gain_{metric_key(name)}"] = float(gain["diff"])
    for check in decision.checks:
        if check.name.startswith("significance/") and _finite(check.value):
            metrics[f"{DIAG_PREFIX}gain_p_value"] = float(check.value)
        if check.name == "infra/p95_latency_ms" and _finite(check.value):
            metrics[f"{DIAG_PREFIX}p95_latency_ms"] = float(check.value)
    return metrics


def check_table(decision: GateDecision, version: str) -> dict[str, Any]:
    """The full check table (``gate/checks.json``): the facts the description renders."""
    champion = decision.champion_metrics or {}
    names = sorted(set(decision.challenger_metrics) | set(champion))
    rows = []
    for name in names:
        new, old = decision.challenger_metrics.get(name), champion.get(name)
        gain = decision.gains.get(name, {})
        diff = gain.get("diff")
        if diff is None and _finite(new) and _finite(old):
            diff = float(new) - float(old)
        rows.append(
            {
                "name": name,
                "challenger": _clean(new),
                "champion": _clean(old),
                "gain": _clean(diff),
                "low": _clean(gain.get("low")),
                "high": _clean(gain.get("high")),
                "higher_is_better": name not in decision.lower_is_better,
                "primary": name == decision.primary_metric,
            }
        )
    significance = next((c for c in decision.checks if c.name.startswith("significance/")), None)
    return {
        "version": str(version),
        "decision": registry.PASSED if decision.passed else registry.REJECTED,
        "rule": decision.rule,
        "policy_version": decision.policy_version,
        "champion_version": decision.champion_version,
        "reasons": list(decision.reasons),
        "aggregate": decision.aggregate,
        "holdout": dict(decision.holdout),
        "p_value": _clean(significance.value) if significance else None,
        "alpha": _clean(significance.threshold) if significance else None,
        "metrics": rows,
        "checks": [
            {
                "name": c.name,
                "kind": c.kind,
                "passed": c.passed,
                "value": _clean(c.value),
                "threshold": _clean(c.threshold),
                "detail": c.detail,
            }
            for c in decision.checks
        ],
        "decided_at": int(time.time()),
    }


def check_table_html(table: dict[str, Any]) -> str:
    """``gate/checks.html``: the check table as a page (escaped; reasons come from data)."""
    return render(
        "gate_checks.html.j2",
        table=table,
        fmt=format_value,
        signed=lambda v: "—" if v is None else f"{v:+.4f}",
    )


def record_decision(settings: Settings, version: str, decision: GateDecision) -> None:
    """Write the decision: tags, run metrics and check table, alias, description."""
    from mlflow import MlflowClient  # heavy: imported when a decision is recorded
    from mlflow.entities import Metric

    info = registry.get_version(settings, version)
    registry.set_version_tags(settings, info.version, decision_tags(decision))
    if info.run_id:
        mlflow_client = MlflowClient()
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in decision_metrics(decision).items()]
        mlflow_client.log_batch(info.run_id, metrics=metrics)
        table = check_table(decision, info.version)
        mlflow_client.log_dict(info.run_id, table, CHECKS_ARTIFACT)
        mlflow_client.log_text(info.run_id, check_table_html(table), CHECKS_HTML)
    if not decision.passed:
        _drop_challenger(settings, info.version)
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
    registry.describe_version(settings, info.version)


def _drop_challenger(settings: Settings, version: str) -> None:
    """A rejected version is no challenger: remove the alias if it names this version."""
    challenger = registry.get_alias(settings, settings.registry.challenger_alias)
    if challenger is not None and challenger.version == str(version):
        registry_client(settings).delete_registered_model_alias(
            settings.registry.model_name, settings.registry.challenger_alias
        )


def apply_decision(settings: Settings, version: str, decision: GateDecision) -> HistoryEntry | None:
    """Record the decision; promote ``version`` only when it passed.

    A rejected version loses the ``challenger`` alias and keeps its ``rejected`` decision
    tag; the champion does not move. Recording and promoting hold the registry lock
    together, so the last decision and the history name the same version. Returns the
    promotion's ``HistoryEntry``, or None when rejected.
    """
    with registry_lock(settings):
        record_decision(settings, version, decision)
        if not decision.passed:
            return None
        return registry.promote(settings, version)


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _clean(value: Any) -> float | None:
    """JSON-safe number: NaN/inf and missing values become null."""
    return float(value) if _finite(value) else None
