"""Running challenger and champion on the same fresh holdout, then deciding.

The decision itself is pure (``recloop.gate.decision.decide``); this module produces its
inputs from real models: both models' metrics on the same holdout cases through
``recloop.evaluation.evaluate_scorer``, in the gate's one aggregate (mean over users, see
:func:`user_mean_metrics`), the per-user primary metric for the paired bootstrap, every
metric's gain interval, and the infrastructure probe (``recloop.gate.infra``). The
candidate's plots (metric vs K, MMR frontier, slice tables) go to its run on the way.
Any exception becomes a rejection (fail closed). Recording and promoting are
``recloop.gate.record``'s job.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from recloop.errors import RecloopError
from recloop.evaluation.harness import evaluate_scorer
from recloop.evaluation.significance import paired_bootstrap, per_user_means
from recloop.gate.decision import GateDecision, decide, rejected_by_error, render_markdown
from recloop.gate.infra import probe
from recloop.gate.policy import GatePolicy, load_gate_policy
from recloop.serving import load_recommender
from recloop.settings import Settings
from recloop.tracking import configure_mlflow

log = logging.getLogger(__name__)


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
        deepest = max([policy.k, *settings.eval.curve_ks])
        deep, non_finite, model = _evaluate_model(challenger_uri, holdout_cases, deepest, scoring)
        challenger = deep.at_k(policy.k)
        champion = None
        if champion_uri is not None:
            champion = _evaluate_model(champion_uri, holdout_cases, policy.k, scoring)[0]
        infra = probe(settings, challenger_uri, holdout_cases, policy, non_finite)
        a, b = (None, None) if champion is None else _aligned(challenger, champion, policy)
        decision = decide(
            policy,
            user_mean_metrics(challenger),
            user_mean_metrics(champion) if champion is not None else None,
            infra,
            challenger_per_user=a,
            champion_per_user=b,
            bootstrap_samples=settings.eval.bootstrap_samples,
            bootstrap_seed=settings.eval.bootstrap_seed,
        )
        decision.holdout = {
            "users": int(challenger.per_user["user_id"].nunique()),
            "cases": int(challenger.n_cases),
        }
        if champion is not None:
            decision.gains = paired_gains(challenger, champion, settings)
            decision.champion_version = champion_uri.rsplit("/", 1)[-1]
        against = champion_uri or "no champion (bootstrap rule)"
        decision.markdown = render_markdown(
            decision, f"Promotion gate: {challenger_uri} vs {against}"
        )
        log_candidate_plots(settings, challenger_uri, deep, model, holdout_cases, scoring, policy)
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


def _evaluate_model(uri: str, cases: Any, k: int, scoring: dict) -> tuple[Any, int, Any]:
    recommender = load_recommender(uri)
    scorer = _NonFiniteCounter(recommender)
    if scoring.get("item_embeddings") is None:  # each model's own text vectors, for ILD
        scoring = {**scoring, "item_embeddings": recommender.item_text_embeddings}
    result = evaluate_scorer(scorer, cases, k=k, **scoring)
    return result, scorer.non_finite, recommender


def user_mean_metrics(result: Any) -> dict[str, float]:
    """The gate's one aggregate (``decision.AGGREGATE``) of every metric of ``result``.

    A metric measured per case is averaged within each user, then over users: the paired
    bootstrap resamples users, so the number a reason quotes, the check table, the tags
    and the run metrics are all this one (the harness's own ``metrics`` average over
    cases, which weighs heavy users more). List-level metrics with no per-case value
    (coverage, gini, entropy) are kept as the harness computed them over all lists.
    """
    per_user = result.per_user
    out = {}
    for name, value in result.metrics.items():
        if name in per_user.columns:
            out[name] = float(per_user.groupby("user_id")[name].mean().mean())
        else:
            out[name] = float(value)
    return out


def paired_gains(challenger: Any, champion: Any, settings: Settings) -> dict[str, dict]:
    """Mean per-user gain (challenger - champion) and its 95% bootstrap interval, per metric.

    Only metrics with per-case values; same users, same seed as the significance check.
    """
    gains = {}
    for name in challenger.metrics:
        if name not in challenger.per_user.columns or name not in champion.per_user.columns:
            continue
        a = per_user_means(challenger.per_user, name)
        b = per_user_means(champion.per_user, name).reindex(a.index)
        if a.isna().any() or b.isna().any() or a.empty:
            continue
        boot = paired_bootstrap(
            a.to_numpy(float),
            b.to_numpy(float),
            samples=settings.eval.bootstrap_samples,
            seed=settings.eval.bootstrap_seed,
        )
        gains[name] = {"diff": boot.diff, "low": boot.low, "high": boot.high}
    return gains


def log_candidate_plots(
    settings: Settings,
    uri: str,
    deep: Any,
    model: Any,
    cases: Any,
    scoring: dict,
    policy: GatePolicy,
) -> None:
    """The candidate's plots on its own run: metric vs K, MMR frontier, slice tables.

    Measured on the gate's holdout (the data the decision is about). Best effort: a plot
    that cannot be made is logged as a warning and never changes the decision.
    """
    from recloop.evaluation.curves import metric_curve, mmr_frontier, supports_mmr
    from recloop.evaluation.mlflow_log import log_evaluation_to_run
    from recloop.registry import get_version

    try:
        version = uri.rsplit("/", 1)[-1]
        run_id = get_version(settings, version).run_id if version.isdigit() else None
        if not run_id:
            return
        cfg = settings.eval
        curve = metric_curve(deep, cfg.curve_ks)
        frontier = None
        if supports_mmr(model) and cfg.mmr_lambdas:
            if scoring.get("item_embeddings") is None:
                scoring = {**scoring, "item_embeddings": model.item_text_embeddings}
            sample = cases.subset(np.arange(len(cases)) < cfg.frontier_cases)
            frontier = mmr_frontier(model, sample, cfg.mmr_lambdas, k=policy.k, **scoring)
        log_evaluation_to_run(run_id, deep.at_k(policy.k), curve=curve, frontier=frontier)
    except Exception as exc:  # plots are for people; the gate's decision does not wait on them
        log.warning("candidate plots not logged for %s: %s: %s", uri, type(exc).__name__, exc)


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
