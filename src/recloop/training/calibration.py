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
from recloop.training.objective import VALIDATION_K, top_k_metrics, validation_ranking
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
    days = np.array([c.time for c in cases], dtype=np.float32)
    unseen, birth = ~problem.seen, item_birth_days(problem.items)

    def new_for(rows: np.ndarray) -> np.ndarray:  # one batch of cases at a time
        return new_arrivals(unseen, birth, days[rows], max_age_days)

    boosts = sorted(set(candidates) | {0.0})
    ranking = validation_ranking(
        net, cases, VALIDATION_K, bonuses=boosts, bonus_items=new_for
    )  # leaves the network in training mode
    net.train(was_training)
    results: dict[str, float] = {}
    for boost in boosts:
        metrics = top_k_metrics(ranking.top[float(boost)], cases, VALIDATION_K)
        results[f"{boost:g}"] = round(metrics[f"ndcg@{VALIDATION_K}"], 6)
    floor = (1.0 - tolerance) * max(results.values())
    best = max(float(boost) for boost, ndcg in results.items() if ndcg >= floor)
    return NewItemBoost(boost=best, max_age_days=max_age_days, validation_ndcg=results)
