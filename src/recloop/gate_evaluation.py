"""Running the gate on real models and recording its outcome.

The decision itself is pure (``recloop.gate.decide``); this module produces its inputs
from real models: both models' metrics on the same holdout cases through
``recloop.evaluation.evaluate_scorer``, and the challenger's pyfunc probed as
``mlflow models serve`` would run it (answers for every holdout user, NaN, p95 latency,
loading in a new Python process). Any exception becomes a rejection (fail closed). Then
the decision is written as version tags, metrics on the version's run and the registered
model's last-decision tag, and a passing version is promoted.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from recloop.errors import RecloopError
from recloop.gate import (
    GateDecision,
    GatePolicy,
    InfraProbe,
    decide,
    format_value,
    load_gate_policy,
    rejected_by_error,
    render_markdown,
)
from recloop.settings import Settings

if TYPE_CHECKING:
    from recloop.registry import HistoryEntry

_FRESH_LOAD_CODE = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
out = model.predict(pd.DataFrame({"history": [json.loads(sys.argv[2])]}))
print("answered", len(out))
"""


def load_in_fresh_process(
    settings: Settings, model_uri: str, history: list[int], timeout: float
) -> tuple[bool, str]:
    """Load ``model_uri`` with ``mlflow.pyfunc`` in a new Python and answer one request.

    Catches what in-process checks cannot: code not shipped with the model, imports that
    only worked because the trainer had them loaded. Returns (ok, last line of output).
    """
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.update(
        MLFLOW_TRACKING_URI=settings.mlflow_tracking_uri,
        MLFLOW_REGISTRY_URI=settings.mlflow_tracking_uri,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    request = json.dumps([int(i) for i in history])
    args = [sys.executable, "-c", _FRESH_LOAD_CODE, model_uri, request]
    try:
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    if proc.returncode == 0:
        return True, "ok"
    lines = (proc.stdout + proc.stderr).strip().splitlines() or [f"exit code {proc.returncode}"]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return False, (errors or lines)[-1][:500]


def probe_pyfunc(
    model_uri: str, histories: list[list[int]], policy: GatePolicy
) -> tuple[int, int, float | None]:
    """Answer every holdout user through the registered pyfunc, then time one-user calls.

    Returns (users answered, non-finite numbers in the output, p95 latency in ms). The
    latency is measured on the pyfunc, as ``mlflow models serve`` runs it, after one
    warm-up call.
    """
    import time

    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model(model_uri)
    frame = pd.DataFrame({"history": [[int(i) for i in h] for h in histories]})
    # As a client would: requests of at most the model's serving limit of rows.
    rows = int((model.model_config or {}).get("max_rows") or len(frame))
    if len(frame) <= rows:
        output = model.predict(frame)
    else:
        parts = [model.predict(frame.iloc[i : i + rows]) for i in range(0, len(frame), rows)]
        output = pd.concat(parts, ignore_index=True)
    answered, non_finite = _inspect_output(output, len(frame))
    n = min(policy.infrastructure.latency_requests, len(frame))
    model.predict(frame.iloc[:1])
    timings = []
    for row in range(n):
        start = time.perf_counter()
        model.predict(frame.iloc[row : row + 1])
        timings.append((time.perf_counter() - start) * 1000)
    p95 = float(np.percentile(timings, 95)) if timings else None
    return answered, non_finite, p95


def _inspect_output(output: Any, expected_rows: int) -> tuple[int, int]:
    """Users with a non-empty answer, and NaN/inf numbers anywhere in the output."""
    import pandas as pd

    frame = output if isinstance(output, pd.DataFrame) else pd.DataFrame({"items": list(output)})
    if len(frame) != expected_rows:
        return 0, 0
    # recloop's pyfunc answers in "item_ids"; any other pyfunc: a row with a non-empty cell.
    answer_columns = [c for c in ("item_ids", "items") if c in frame.columns][:1]
    answered = non_finite = 0
    for _, row in frame.iterrows():
        cells = list(row.values)
        answer = [row[c] for c in answer_columns] or cells
        answered += any(_non_empty(c) for c in answer)
        non_finite += sum(_count_non_finite(c) for c in cells)
    return answered, non_finite


def _non_empty(cell: Any) -> bool:
    if isinstance(cell, list | tuple | np.ndarray):
        return len(cell) > 0
    return cell is not None and not (isinstance(cell, float) and math.isnan(cell))


def _count_non_finite(cell: Any) -> int:
    if isinstance(cell, dict):
        return sum(_count_non_finite(v) for v in cell.values())
    if isinstance(cell, list | tuple | np.ndarray):
        return sum(_count_non_finite(v) for v in cell)
    if isinstance(cell, float | np.floating):
        return int(not math.isfinite(cell))
    return 0


def evaluate_gate(
    settings: Settings,
    challenger_uri: str,
    champion_uri: str | None,
    holdout_cases: Any,
    *,
    items: Any,
    item_embeddings: np.ndarray | None = None,
    popularity: Any = None,
    policy: GatePolicy | None = None,
) -> GateDecision:
    """Evaluate challenger and champion on the same holdout and decide. Never raises.

    Args:
        settings: recloop settings (gate policy file, bootstrap samples, MLflow store).
        challenger_uri: ``models:/name/version`` of the candidate.
        champion_uri: the champion's URI, or None for the bootstrap rule.
        holdout_cases: ``recloop.evaluation`` cases of the fresh window (not trained on).
        items, item_embeddings, popularity: passed to ``evaluate_scorer``.
        policy: an already loaded policy (default: ``settings.gate.policy_file``).

    Returns:
        GateDecision: any error (policy, loading, evaluation) is a rejection (fail closed).
    """
    from recloop.tracking import configure_mlflow

    try:
        policy = policy or load_gate_policy(settings.gate.policy_file)
    except RecloopError as exc:
        return rejected_by_error(str(exc))
    except Exception as exc:  # fail closed, even on a bug
        return rejected_by_error(f"gate policy error: {type(exc).__name__}: {exc}")
    try:
        configure_mlflow(settings)
        scoring = dict(items=items, item_embeddings=item_embeddings, popularity=popularity)
        challenger, non_finite = _evaluate_model(challenger_uri, holdout_cases, policy, scoring)
        champion = None
        if champion_uri is not None:
            champion = _evaluate_model(champion_uri, holdout_cases, policy, scoring)[0]
        probe = _probe(settings, challenger_uri, holdout_cases, policy, non_finite)
        a, b = (None, None) if champion is None else _aligned(challenger, champion, policy)
        decision = decide(
            policy,
            dict(challenger.metrics),
            dict(champion.metrics) if champion is not None else None,
            probe,
            challenger_per_user=a,
            champion_per_user=b,
            bootstrap_samples=settings.eval.bootstrap_samples,
            bootstrap_seed=settings.eval.bootstrap_seed,
        )
        against = champion_uri or "no champion (bootstrap rule)"
        decision.markdown = render_markdown(
            decision, f"Promotion gate: {challenger_uri} vs {against}"
        )
        return decision
    except Exception as exc:  # fail closed: whatever went wrong, the challenger is rejected
        message = str(exc).splitlines()[0] if str(exc) else ""
        return rejected_by_error(f"evaluation error: {type(exc).__name__}: {message}", policy)


class _NonFiniteCounter:
    """A Scorer proxy that counts NaN/inf scores on their way to the evaluation."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self.item_ids = scorer.item_ids
        self.non_finite = 0

    def score(self, histories, *, scenarios=None, times=None):
        scores = self.scorer.score(histories, scenarios=scenarios, times=times)
        self.non_finite += int(np.size(scores) - np.isfinite(scores).sum())
        return scores

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scorer, name)


def _evaluate_model(uri: str, cases: Any, policy: GatePolicy, scoring: dict) -> tuple[Any, int]:
    from recloop.evaluation import evaluate_scorer
    from recloop.serving import load_recommender

    recommender = load_recommender(uri)
    scorer = _NonFiniteCounter(recommender)
    if scoring.get("item_embeddings") is None:  # each model's own text vectors, for ILD
        scoring = {**scoring, "item_embeddings": recommender.item_text_embeddings}
    result = evaluate_scorer(scorer, cases, k=policy.k, **scoring)
    return result, scorer.non_finite


def _probe(
    settings: Settings, uri: str, cases: Any, policy: GatePolicy, non_finite_scores: int
) -> InfraProbe:
    histories = case_histories(cases)
    answered, non_finite_output, p95 = probe_pyfunc(uri, histories, policy)
    infra = policy.infrastructure
    fresh_ok, fresh_detail = None, "not run"
    if infra.fresh_process_load:
        sample = histories[0] if histories else []
        fresh_ok, fresh_detail = load_in_fresh_process(
            settings, uri, list(sample), infra.load_timeout_seconds
        )
    return InfraProbe(
        fresh_ok,
        fresh_detail,
        answered,
        len(histories),
        non_finite_scores + non_finite_output,
        p95,
    )


def case_histories(cases: Any) -> list[list[int]]:
    """One request per holdout user: the history of the user's latest case.

    Next-window cases repeat users (one case per held-out event); probing every case would
    ask the same user many times for nothing.
    """
    latest: dict[int, list[int]] = {}
    for user, history in zip(cases.user_ids, cases.histories, strict=True):
        latest[int(user)] = [int(i) for i in history]
    return list(latest.values())


def _aligned(challenger: Any, champion: Any, policy: GatePolicy) -> tuple[np.ndarray, np.ndarray]:
    """Both models' primary metric per holdout user (mean over the user's cases).

    The bootstrap resamples users, not cases: next-window cases of one user are not
    independent.
    """
    from recloop.evaluation.significance import per_user_means

    name = policy.primary_metric
    a = per_user_means(challenger.per_user, name)
    b = per_user_means(champion.per_user, name)
    if not a.index.sort_values().equals(b.index.sort_values()):
        raise RecloopError("challenger and champion were not evaluated on the same users")
    return a.to_numpy(dtype=float), b.reindex(a.index).to_numpy(dtype=float)


# ---- recording and acting on the decision ---------------------------------------------


def decision_tags(decision: GateDecision) -> dict[str, str]:
    """Model-version tags: the verdict, its reasons, and one tag per check."""
    from recloop import registry

    tags = {
        registry.TAG_GATE_DECISION: registry.PASSED if decision.passed else registry.REJECTED,
        registry.TAG_GATE_RULE: decision.rule,
        registry.TAG_GATE_POLICY: str(decision.policy_version),
        registry.TAG_GATE_REASONS: "; ".join(decision.reasons)[:5000],
    }
    for check in decision.checks:
        key = f"recloop.gate.check.{registry.metric_key(check.name)}"
        verdict = "pass" if check.passed else "fail"
        tags[key] = (
            f"{verdict} value={format_value(check.value)} threshold={format_value(check.threshold)}"
        )
    return tags


def decision_metrics(decision: GateDecision) -> dict[str, float]:
    """MLflow metrics: pass flag, every check's value, both models' holdout metrics."""
    from recloop.registry import metric_key

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
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from recloop import registry

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
    from recloop import registry
    from recloop.registry_lock import registry_lock

    with registry_lock(settings):
        record_decision(settings, version, decision)
        if not decision.passed:
            return None
        return registry.promote(settings, version)
