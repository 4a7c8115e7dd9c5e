"""Evaluation: metrics, protocols, baselines, significance and the harness (issue 5).

The public names below are the contract other stages code against (trainer early stopping,
drift relevance decay, the promotion gate)::

    split = leave_one_out(events)
    cases = loo_cases(split, stage="valid")
    result = evaluate_scorer(model, cases, k=10, items=items, popularity=split.train)
    result.metrics["ndcg@10"], result.per_user
    paired_bootstrap(a.per_user["ndcg@10"], b.per_user["ndcg@10"], samples=1000, seed=0)
"""

from recloop.evaluation.harness import EvalResult, Popularity, Scorer, evaluate_scorer
from recloop.evaluation.protocols import (
    EvalCases,
    LooSplit,
    leave_one_out,
    loo_cases,
    next_window_cases,
)
from recloop.evaluation.significance import BootstrapResult, paired_bootstrap

__all__ = [
    "BootstrapResult",
    "EvalCases",
    "EvalResult",
    "LooSplit",
    "Popularity",
    "Scorer",
    "evaluate_scorer",
    "leave_one_out",
    "loo_cases",
    "next_window_cases",
    "paired_bootstrap",
]
