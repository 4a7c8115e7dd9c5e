"""Choose the bonus new arrivals get (see ``recloop.model.new_items``) on validation cases.

The trained network ranks every item; the bonus only decides how far items it never saw
in training are lifted. It is picked after training, on the same validation cases early
stopping used (each case at its own time, so "new" means new *then*): the largest
candidate whose validation NDCG@10 is within ``tolerance`` (relative) of the best
candidate's. That is an explicit exploration budget: new items are shown as much as
costs at most that share of measured relevance, and more when showing them pays (their
validation users pick them). Validation holds few first-ever interactions with an item, so
a pure arg-max would almost always answer "no bonus" and leave new items unseen.
"""

from __future__ import annotations

import numpy as np

from recloop.model.network import RecommenderNet
from recloop.model.new_items import NewItemBoost, item_birth_days, new_arrivals
from recloop.training.objective import VALIDATION_K, ranking_metrics, validation_scores
from recloop.training.prepare import TrainingProblem


def calibrate_new_item_boost(
    net: RecommenderNet,
    problem: TrainingProblem,
    *,
    candidates: list[float],
    max_age_days: float,
    tolerance: float,
    fixed: float | None = None,
) -> NewItemBoost:
    """The bonus for new arrivals: ``fixed`` when given, else chosen from ``candidates``.

    Args:
        net: the trained network (best weights loaded).
        problem: the training problem (its validation cases, catalog and seen items).
        candidates: bonuses to try, in logit units.
        max_age_days: how young an unseen item must be to count as new.
        tolerance: share of the best validation NDCG@10 the bonus may cost.
        fixed: a bonus set by configuration; nothing is searched.
    """
    if fixed is not None or not problem.valid_cases:
        return NewItemBoost(boost=float(fixed or 0.0), max_age_days=max_age_days)
    cases = problem.valid_cases
    was_training = net.training
    scores, _ = validation_scores(net, cases)  # leaves the network in training mode
    net.train(was_training)
    days = np.array([c.time for c in cases], dtype=np.float32)
    new = new_arrivals(~problem.seen, item_birth_days(problem.items), days, max_age_days)
    results: dict[str, float] = {}
    for boost in sorted(set(candidates) | {0.0}):
        metrics = ranking_metrics(scores + boost * new, cases, VALIDATION_K)
        results[f"{boost:g}"] = round(metrics[f"ndcg@{VALIDATION_K}"], 6)
    floor = (1.0 - tolerance) * max(results.values())
    best = max(float(boost) for boost, ndcg in results.items() if ndcg >= floor)
    return NewItemBoost(boost=best, max_age_days=max_age_days, validation_ndcg=results)
