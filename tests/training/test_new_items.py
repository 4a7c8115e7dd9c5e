"""New arrivals on real MovieLens weeks: the bonus is chosen on validation and reaches the
first ratings of new releases, which a plain ranking never puts in the top 10."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow
WEEK = 7 * 86_400


def test_calibrated_bonus_brings_new_releases_into_the_top_10(
    movielens, tmp_path, embedding_cache_dir, make_settings
):
    from recloop.evaluation.harness import evaluate_scorer
    from recloop.evaluation.protocols import next_window_cases
    from recloop.model.new_items import NewItemBoost
    from recloop.serving import load_recommender
    from recloop.training.trainer import train_recommender

    events = movielens.events.sort_values("timestamp", kind="stable")
    # Weeks 0..12 (to late December 1997): the next week brings Titanic, Tomorrow Never
    # Dies and other new releases, first rated then.
    cut = int(events["timestamp"].min()) + 13 * WEEK
    train = events[events["timestamp"] < cut]
    # A test-sized model (20 s of training) gets four times the default exploration budget:
    # with twice it, whether a new release reached the top 10 hung on the dropout draws.
    settings = make_settings(
        tmp_path, embedding_cache_dir, epochs=3, hidden_dim=32, new_item_ndcg_tolerance=0.04
    )
    result = train_recommender(settings, train, movielens.items, out_dir=tmp_path / "m")
    rec = load_recommender(str(result.model_dir))

    chosen = rec.new_items
    tolerance = settings.train.new_item_ndcg_tolerance
    ndcg = {float(b): v for b, v in chosen.validation_ndcg.items()}
    assert set(ndcg) == {0.0, *settings.train.new_item_boost_candidates}
    affordable = [b for b, v in ndcg.items() if v >= (1 - tolerance) * max(ndcg.values())]
    assert chosen.boost == max(affordable) > 0
    # The choice is reproducible from the saved model, and leaves it in eval mode.
    from recloop.training.calibration import calibrate_new_item_boost
    from recloop.training.prepare import prepare_problem

    again = calibrate_new_item_boost(
        rec.net,
        prepare_problem(train, movielens.items),
        candidates=settings.train.new_item_boost_candidates,
        max_age_days=chosen.max_age_days,
        tolerance=tolerance,
    )
    assert again == chosen and not rec.net.training

    cases = next_window_cases(events[events["timestamp"] < cut + WEEK], cut - 1, WEEK)
    cold = cases.subset(cases.cold_items)
    assert len(cold) >= 30

    def scored(boost):
        rec.new_items = NewItemBoost(boost=boost, max_age_days=chosen.max_age_days)
        overall = evaluate_scorer(rec, cases, k=10).metrics["ndcg@10"]
        return overall, evaluate_scorer(rec, cold, k=10).metrics["recall@10"]

    plain_ndcg, plain_cold = scored(0.0)
    boosted_ndcg, boosted_cold = scored(chosen.boost)
    assert plain_cold == 0.0  # without the bonus no new release reaches the top 10
    assert boosted_cold > 0.0
    assert boosted_ndcg >= (1 - 2 * tolerance) * plain_ndcg  # and it costs (almost) nothing


def test_a_configured_bonus_is_used_as_it_is(
    ml_slice, tmp_path, embedding_cache_dir, make_settings
):
    from recloop.serving import load_recommender
    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    events = events[events["user_id"] <= 30]
    settings = make_settings(tmp_path, embedding_cache_dir, epochs=1, new_item_boost=0.0)
    result = train_recommender(settings, events, items, out_dir=tmp_path / "m")
    chosen = load_recommender(str(result.model_dir)).new_items
    assert chosen.boost == 0.0 and chosen.validation_ndcg is None
