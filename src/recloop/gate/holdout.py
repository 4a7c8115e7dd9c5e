"""Running challenger and champion on the same fresh holdout, then deciding.

The decision itself is pure (``recloop.gate.decision.decide``); this module produces its
inputs from real models: both models' metrics on the same holdout cases through
``recloop.evaluation.evaluate_scorer``, the per-user primary metric for the paired
bootstrap, and the infrastructure probe (``recloop.gate.infra``). Any exception becomes a
rejection (fail closed). Recording and promoting are ``recloop.gate.record``'s job.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recloop.errors import RecloopError
from recloop.evaluation.harness import evaluate_scorer
from recloop.evaluation.significance import per_user_means
from recloop.gate.decision import GateDecision, decide, rejected_by_error, render_markdown
from recloop.gate.infra import probe
from recloop.gate.policy import GatePolicy, load_gate_policy
from recloop.serving import load_recommender
from recloop.settings import Settings
from recloop.tracking import configure_mlflow


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
        infra = probe(settings, challenger_uri, holdout_cases, policy, non_finite)
        a, b = (None, None) if champion is None else _aligned(challenger, champion, policy)
        decision = decide(
            policy,
            dict(challenger.metrics),
            dict(champion.metrics) if champion is not None else None,
            infra,
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
    recommender = load_recommender(uri)
    scorer = _NonFiniteCounter(recommender)
    if scoring.get("item_embeddings") is None:  # each model's own text vectors, for ILD
        scoring = {**scoring, "item_embeddings": recommender.item_text_embeddings}
    result = evaluate_scorer(scorer, cases, k=policy.k, **scoring)
    return result, scorer.non_finite


def _aligned(challenger: Any, champion: Any, policy: GatePolicy) -> tuple[np.ndarray, np.ndarray]:
    """Both models' primary metric per holdout user (mean over the user's cases).

    The bootstrap resamples users, not cases: next-window cases of one user are not
    independent.
    """
    name = policy.primary_metric
    a = per_user_means(challenger.per_user, name)
    b = per_user_means(champion.per_user, name)
    if not a.index.sort_values().equals(b.index.sort_values()):
        raise RecloopError("challenger and champion were not evaluated on the same users")
    return a.to_numpy(dtype=float), b.reindex(a.index).to_numpy(dtype=float)
