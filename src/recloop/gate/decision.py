"""The gate's decision: a pure function of metrics, per-user arrays and the infra probe.

Checks, all on the same fresh holdout:

- **metrics finite**: every metric the policy names exists and is finite (both models);
- **floors**: absolute minimums, checked with MLflow's ``MetricThreshold`` /
  ``validate_evaluation_results``;
- **tolerances**: at most x% worse than the champion per relevance and diversity metric
  (MLflow's ``min_relative_change`` must be >= 0, so it cannot express an allowed
  regression; computed here);
- **gain**: the primary metric's mean per-user gain reaches ``min_gain`` (MLflow
  ``min_absolute_change`` when positive) and a paired bootstrap over holdout users gives a
  one-sided p-value <= ``alpha``;
- **infrastructure**: the pyfunc loads in a fresh process, answers for every holdout user,
  returns no NaN, and its p95 one-user latency is within budget (measured by
  ``recloop.gate.infra``).

With no champion the **bootstrap rule** applies: floors and infrastructure only. The gate
fails closed: a policy without floors, a missing or non-finite metric, or any error while
evaluating rejects.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from recloop.evaluation.significance import paired_bootstrap
from recloop.gate.policy import GatePolicy

CheckKind = Literal["policy", "finite", "floor", "tolerance", "gain", "infra", "error"]


@dataclass
class Check:
    """One gate check and the numbers behind it."""

    name: str
    kind: CheckKind
    passed: bool
    value: float | None = None
    threshold: float | None = None
    detail: str = ""


@dataclass
class InfraProbe:
    """What running the challenger's pyfunc showed (see :func:`probe_pyfunc`)."""

    fresh_process_ok: bool | None  # None: check not run
    fresh_process_detail: str
    answered_users: int
    total_users: int
    non_finite_values: int
    p95_latency_ms: float | None


# The one aggregate of every gate number (checks, tags, reasons, run metrics, description):
# the paired bootstrap resamples users, so each user counts once.
AGGREGATE = "mean over holdout users (each user's cases averaged first)"


@dataclass
class GateDecision:
    """The gate's verdict, every check, and the Markdown the flow publishes.

    Every metric is one aggregate, :data:`AGGREGATE` (catalog-level list metrics such as
    coverage are computed over all recommended lists). ``gains`` holds, per metric with
    per-user values, the mean paired difference challenger - champion and its 95%
    bootstrap interval; ``holdout`` the users and cases compared.
    """

    passed: bool
    rule: Literal["compare", "bootstrap"]
    reasons: list[str]
    checks: list[Check]
    policy_version: int | None
    challenger_metrics: dict[str, float] = field(default_factory=dict)
    champion_metrics: dict[str, float] | None = None
    markdown: str = ""
    aggregate: str = AGGREGATE
    gains: dict[str, dict[str, float]] = field(default_factory=dict)
    holdout: dict[str, int] = field(default_factory=dict)
    primary_metric: str | None = None
    lower_is_better: list[str] = field(default_factory=list)
    champion_version: str | None = None  # the version it was compared with

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- pure checks ----------------------------------------------------------------------


def finite_checks(metrics: dict[str, float], names: list[str], role: str) -> list[Check]:
    """Each required metric present and finite; anything else fails closed."""
    checks = []
    for name in names:
        value = metrics.get(name)
        ok = value is not None and math.isfinite(float(value))
        detail = "" if ok else f"{role} {name} is {'missing' if value is None else value}"
        checks.append(Check(f"{role}_finite/{name}", "finite", ok, _num(value), None, detail))
    return checks


def mlflow_threshold_failures(
    thresholds: dict[str, Any],
    candidate: dict[str, float],
    baseline: dict[str, float] | None = None,
) -> dict[str, str | None]:
    """Run ``mlflow.validate_evaluation_results`` metric by metric.

    One call per metric so each check gets its own verdict. Returns metric -> MLflow's
    failure message, or None when it passed.
    """
    import mlflow
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    # MLflow logs "Validating ..."/"passed!" at INFO for every call: noise in a flow's log.
    logging.getLogger("mlflow.models.evaluation.validation").setLevel(logging.WARNING)
    cand = EvaluationResult(metrics=dict(candidate), artifacts={})
    base = EvaluationResult(metrics=dict(baseline), artifacts={}) if baseline else None
    out: dict[str, str | None] = {}
    for name, threshold in thresholds.items():
        try:
            mlflow.validate_evaluation_results(
                validation_thresholds={name: threshold},
                candidate_result=cand,
                baseline_result=base,
            )
            out[name] = None
        except ModelValidationFailedException as exc:
            out[name] = str(exc.message if hasattr(exc, "message") else exc).strip()
    return out


def floor_checks(policy: GatePolicy, metrics: dict[str, float]) -> list[Check]:
    """Absolute floors through MLflow's ``MetricThreshold(threshold=...)``."""
    from mlflow.models import MetricThreshold

    thresholds = {
        name: MetricThreshold(threshold=floor, greater_is_better=policy.greater_is_better(name))
        for name, floor in policy.floors.items()
    }
    failures = mlflow_threshold_failures(thresholds, metrics)
    return [
        Check(
            f"floor/{name}",
            "floor",
            failures[name] is None,
            _num(metrics.get(name)),
            floor,
            failures[name] or "",
        )
        for name, floor in policy.floors.items()
    ]


def tolerance_checks(
    policy: GatePolicy, challenger: dict[str, float], champion: dict[str, float]
) -> list[Check]:
    """At most ``tolerance`` relative regression per metric (direction-aware)."""
    checks = []
    for name, tol in sorted(policy.tolerances.items()):
        new, old = float(challenger[name]), float(champion[name])
        if policy.greater_is_better(name):
            limit = old - tol * abs(old)
            ok = new >= limit
        else:
            limit = old + tol * abs(old)
            ok = new <= limit
        detail = (
            ""
            if ok
            else (
                f"{name} regressed beyond {tol:.0%}: challenger {new:.4f} vs champion {old:.4f} "
                f"(limit {limit:.4f})"
            )
        )
        checks.append(Check(f"tolerance/{name}", "tolerance", ok, new, limit, detail))
    return checks


def gain_checks(
    policy: GatePolicy,
    challenger_per_user: np.ndarray,
    champion_per_user: np.ndarray,
    *,
    samples: int,
    seed: int,
) -> list[Check]:
    """Mean gain on the primary metric and its paired-bootstrap significance.

    Args:
        challenger_per_user: the primary metric per holdout user, same user order as
            ``champion_per_user``.
    """
    a = np.asarray(challenger_per_user, dtype=float)
    b = np.asarray(champion_per_user, dtype=float)
    name, gain = policy.primary_metric, policy.required_gain
    if a.shape != b.shape or a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        detail = f"per-user {name} unusable: shapes {a.shape} vs {b.shape} or non-finite values"
        return [Check(f"gain/{name}", "gain", False, None, gain.min_gain, detail)]
    boot = paired_bootstrap(a, b, samples=samples, seed=seed)
    checks = [_min_gain_check(policy, float(a.mean()), float(b.mean()))]
    p_one_sided = one_sided_p(boot)
    ok = p_one_sided <= gain.alpha
    detail = (
        ""
        if ok
        else (
            f"{name} gain {boot.diff:+.4f} not significant: one-sided p={p_one_sided:.3f} > "
            f"alpha={gain.alpha} (95% CI {boot.low:+.4f}..{boot.high:+.4f})"
        )
    )
    checks.append(Check(f"significance/{name}", "gain", ok, p_one_sided, gain.alpha, detail))
    return checks


def one_sided_p(boot: Any) -> float:
    """P(gain <= 0) from the two-sided bootstrap p-value (twice the smaller tail share).

    When the mean gain is positive the smaller tail is the one at or below 0, so the
    one-sided p-value is half the two-sided one; otherwise the gain is not there at all.
    """
    p = float(boot.p_value)
    return p / 2 if boot.diff > 0 else 1 - p / 2


def _min_gain_check(policy: GatePolicy, new: float, old: float) -> Check:
    name, min_gain = policy.primary_metric, policy.required_gain.min_gain
    higher = policy.greater_is_better(name)
    if min_gain > 0:
        from mlflow.models import MetricThreshold

        threshold = MetricThreshold(min_absolute_change=min_gain, greater_is_better=higher)
        failure = mlflow_threshold_failures({name: threshold}, {name: new}, {name: old})[name]
    else:
        ok = new >= old if higher else new <= old
        failure = (
            None
            if ok
            else f"{name} challenger {new:.4f} is worse than champion {old:.4f} (user mean)"
        )
    gain = new - old if higher else old - new
    return Check(f"gain/{name}", "gain", failure is None, gain, min_gain, failure or "")


def infra_checks(policy: GatePolicy, probe: InfraProbe) -> list[Check]:
    """Pyfunc loads fresh, answers everyone, no NaN, p95 latency within budget."""
    infra = policy.infrastructure
    checks = []
    if infra.fresh_process_load:
        ok = bool(probe.fresh_process_ok)
        detail = (
            "" if ok else f"pyfunc failed to load in a fresh process: {probe.fresh_process_detail}"
        )
        checks.append(Check("infra/fresh_process_load", "infra", ok, float(ok), 1.0, detail))
    frac = probe.answered_users / probe.total_users if probe.total_users else 0.0
    ok = probe.total_users > 0 and frac >= infra.min_answered_fraction
    detail = "" if ok else f"answered {probe.answered_users}/{probe.total_users} holdout users"
    checks.append(
        Check("infra/answered_fraction", "infra", ok, frac, infra.min_answered_fraction, detail)
    )
    ok = probe.non_finite_values == 0
    detail = "" if ok else f"{probe.non_finite_values} NaN/inf values in scores"
    checks.append(
        Check("infra/non_finite_values", "infra", ok, float(probe.non_finite_values), 0.0, detail)
    )
    p95 = probe.p95_latency_ms
    ok = p95 is not None and math.isfinite(p95) and p95 <= infra.p95_latency_ms
    detail = "" if ok else f"p95 latency {p95} ms over budget {infra.p95_latency_ms} ms"
    checks.append(Check("infra/p95_latency_ms", "infra", ok, p95, infra.p95_latency_ms, detail))
    return checks


def decide(
    policy: GatePolicy,
    challenger_metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    probe: InfraProbe,
    *,
    challenger_per_user: np.ndarray | None = None,
    champion_per_user: np.ndarray | None = None,
    bootstrap_samples: int = 1000,
    bootstrap_seed: int = 0,
) -> GateDecision:
    """The whole gate as a pure function of metrics, per-user primary metric and probe.

    ``champion_metrics=None`` selects the bootstrap rule (floors and infrastructure only).
    Comparison checks run only when every needed metric of both models is finite.
    """
    compare = champion_metrics is not None
    checks = finite_checks(challenger_metrics, policy.metrics_needed(compare), "challenger")
    if compare:
        checks += finite_checks(champion_metrics, policy.metrics_needed(True), "champion")
    all_finite = all(c.passed for c in checks)
    if all_finite:
        checks += floor_checks(policy, challenger_metrics)
        if compare:
            checks += tolerance_checks(policy, challenger_metrics, champion_metrics)
            checks += gain_checks(
                policy,
                challenger_per_user if challenger_per_user is not None else np.array([]),
                champion_per_user if champion_per_user is not None else np.array([]),
                samples=bootstrap_samples,
                seed=bootstrap_seed,
            )
    checks += infra_checks(policy, probe)
    return _verdict(
        policy, checks, "compare" if compare else "bootstrap", challenger_metrics, champion_metrics
    )


def rejected_by_error(message: str, policy: GatePolicy | None = None) -> GateDecision:
    """Fail closed: an error while evaluating is a rejection with the error as reason."""
    check = Check("evaluation_error", "error", False, None, None, message)
    return _verdict(policy, [check], "compare", {}, None)


def _verdict(policy, checks, rule, challenger_metrics, champion_metrics) -> GateDecision:
    reasons = [c.detail or f"{c.name} failed" for c in checks if not c.passed]
    names = set(challenger_metrics) | set(champion_metrics or {})
    decision = GateDecision(
        passed=not reasons and bool(checks),
        rule=rule,
        reasons=reasons,
        checks=checks,
        policy_version=policy.version if policy else None,
        challenger_metrics={k: _num(v) for k, v in challenger_metrics.items()},
        champion_metrics={k: _num(v) for k, v in champion_metrics.items()}
        if champion_metrics is not None
        else None,
        primary_metric=policy.primary_metric if policy else None,
        lower_is_better=sorted(n for n in names if policy and not policy.greater_is_better(n)),
    )
    decision.markdown = render_markdown(decision)
    return decision


def render_markdown(decision: GateDecision, title: str = "Promotion gate") -> str:
    """A Markdown summary for the Prefect UI: verdict, reasons, every check, metrics."""
    verdict = "PASSED" if decision.passed else "REJECTED"
    lines = [
        f"# {title}: **{verdict}**",
        "",
        f"Rule: `{decision.rule}` · policy version {decision.policy_version}",
        "",
        f"Every metric is the {decision.aggregate}.",
        "",
    ]
    if decision.reasons:
        lines += ["## Reasons", *[f"- {r}" for r in decision.reasons], ""]
    lines += ["## Checks", "", "| check | result | value | threshold |", "|---|---|---|---|"]
    for c in decision.checks:
        mark = "pass" if c.passed else "**FAIL**"
        lines.append(
            f"| `{c.name}` | {mark} | {format_value(c.value)} | {format_value(c.threshold)} |"
        )
    names = sorted(set(decision.challenger_metrics) | set(decision.champion_metrics or {}))
    if names:
        lines += [
            "",
            "## Metrics (same holdout)",
            "",
            "| metric | challenger | champion |",
            "|---|---|---|",
        ]
        champ = decision.champion_metrics or {}
        for n in names:
            new, old = decision.challenger_metrics.get(n), champ.get(n)
            lines.append(f"| {n} | {format_value(new)} | {format_value(old)} |")
    return "\n".join(lines) + "\n"


def format_value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return float("nan")


def superseded(decision: GateDecision, gated_against: str | None, current: str | None):
    """A passing decision turned into a rejection: its champion is no longer the champion."""
    reason = (
        f"the champion changed from version {gated_against or 'none'} to "
        f"{current or 'none'} while this candidate was trained and gated; not promoted"
    )
    check = Check("champion_unchanged", "error", False, detail=reason)
    rejected = replace(
        decision,
        passed=False,
        reasons=[*decision.reasons, reason],
        checks=[*decision.checks, check],
    )
    rejected.markdown = render_markdown(rejected, "Promotion gate (superseded)")
    return rejected
