"""Behaviour of the trained Recommender: exclusions, MMR diversity, explanations, cold users."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recommender(trained_model_dir):
    from recloop.serving import load_recommender

    return load_recommender(str(trained_model_dir))


@pytest.fixture(scope="module")
def histories(ml_slice):
    events, _ = ml_slice
    ordered = events.sort_values("timestamp", kind="stable")
    return [group.tolist() for _, group in ordered.groupby("user_id")["item_id"]][:20]


def _ild(recommender, item_ids):
    column = {int(i): j for j, i in enumerate(recommender.item_ids)}
    emb = recommender.item_text_embeddings[[column[i] for i in item_ids]]
    sims = emb @ emb.T
    n = len(item_ids)
    return 1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1))


def test_score_shape_and_unknown_ids_ignored(recommender, histories):
    scores = recommender.score(histories[:3])
    assert scores.shape == (3, len(recommender.item_ids))
    assert scores.dtype == np.float32
    with_unknown = recommender.score([[*histories[0], 987654321]])
    np.testing.assert_allclose(with_unknown[0], scores[0], rtol=1e-5, atol=1e-5)


def test_recommend_excludes_seen_and_excluded_and_explains_from_history(recommender, histories):
    history = histories[0]
    blocked = [int(recommender.item_ids[0]), int(recommender.item_ids[1])]
    recs = recommender.recommend(history, k=10, exclude=blocked)
    ids = [r["item_id"] for r in recs]
    assert len(ids) == 10 and len(set(ids)) == 10
    assert not set(ids) & set(history)
    assert not set(ids) & set(blocked)
    assert all(r["because_item_id"] in history for r in recs)
    assert all(r["title"] for r in recs)
    scores = [r["score"] for r in recs]
    assert scores == sorted(scores, reverse=True)  # lambda = 1: pure relevance order


def test_new_arrivals_get_the_bonus_at_their_request_time(recommender, histories):
    """The bonus goes to items unseen in training that are young at the request time, to
    nothing else, and is enough to bring them into the top K."""
    import copy

    from recloop.model.new_items import NewItemBoost

    boosted = copy.copy(recommender)
    boosted.new_items = NewItemBoost(boost=50.0, max_age_days=365.0)
    plain = copy.copy(recommender)
    plain.new_items = NewItemBoost(boost=0.0)
    launch = 875_000_000  # October 1997, inside MovieLens-100k's time span
    films_1997 = recommender.items["year"].astype(str).eq("1997").to_numpy()
    films_1995 = recommender.items["year"].astype(str).eq("1995").to_numpy()
    age_days = launch / 86_400 - recommender._birth
    new = recommender._unseen & (age_days <= 365)  # NaN (undated) is not new
    assert (new >= recommender._unseen & films_1997).all()  # a 1997 film is new in 1997
    assert not (new & films_1995).any()  # a 1995 film is not, seen or not
    assert (recommender._unseen & films_1995).any()
    lift = boosted.score(histories[:2], times=[launch] * 2) - plain.score(
        histories[:2], times=[launch] * 2
    )
    np.testing.assert_allclose(lift[:, new], 50.0, rtol=1e-5)
    np.testing.assert_allclose(lift[:, ~new], 0.0, atol=1e-5)
    later = boosted.score(histories[:2], times=[launch + 3 * 365 * 86_400] * 2)
    np.testing.assert_allclose(later[:, films_1997], plain.score(histories[:2])[:, films_1997])
    recs = boosted.recommend(histories[0], k=5, at=launch)
    column = {int(i): j for j, i in enumerate(recommender.item_ids)}
    assert all(new[column[r["item_id"]]] for r in recs)
    assert not any(new[column[r["item_id"]]] for r in plain.recommend(histories[0], k=5))


def test_unknown_history_ids_are_reported(recommender, histories):
    recs, unknown = recommender.recommend_with_report([*histories[1][:5], 999999], k=5)
    assert unknown == [999999]
    assert len(recs) == 5


def test_empty_history_gets_popular_and_diverse_items(recommender):
    recs = recommender.recommend([], k=10)
    assert len(recs) == 10
    assert all(r["because_item_id"] is None for r in recs)
    popularity = dict(zip(recommender.item_ids.tolist(), recommender.popularity, strict=True))
    median = np.median(recommender.popularity[recommender.popularity > 0])
    assert np.mean([popularity[r["item_id"]] > median for r in recs]) >= 0.8
    pure_top = recommender.item_ids[np.argsort(-recommender.popularity, kind="stable")[:10]]
    assert _ild(recommender, [r["item_id"] for r in recs]) >= _ild(recommender, pure_top.tolist())


def test_lower_mmr_lambda_raises_intra_list_diversity(recommender, histories):
    relevant = [
        _ild(recommender, [r["item_id"] for r in recommender.recommend(h, k=10)]) for h in histories
    ]
    diverse = [
        _ild(
            recommender,
            [r["item_id"] for r in recommender.recommend(h, k=10, diversity_lambda=0.3)],
        )
        for h in histories
    ]
    assert np.mean(diverse) > np.mean(relevant)
    assert (
        all(d >= r - 1e-9 for d, r in zip(diverse, relevant, strict=True))
        or np.mean(diverse) > np.mean(relevant) + 0.02
    )


def test_horror_only_history_gets_horror_first(recommender, ml_slice):
    _, items = ml_slice
    horror = items[items["genres"].str.contains("Horror")]["item_id"].tolist()
    history = horror[:8]
    recs = recommender.recommend(history, k=5)
    genres = dict(zip(items["item_id"], items["genres"], strict=True))
    assert "Horror" in genres[recs[0]["item_id"]]
    assert sum("Horror" in genres[r["item_id"]] for r in recs) >= 3


def test_bad_arguments_raise_clear_errors(recommender):
    from recloop.errors import UnusableInputError

    with pytest.raises(UnusableInputError, match="k must be"):
        recommender.recommend([1], k=0)
    with pytest.raises(UnusableInputError, match="lambda"):
        recommender.recommend([1], diversity_lambda=1.5)


def test_mmr_with_lambda_one_is_the_relevance_order():
    from recloop.serving.mmr import mmr_rerank

    rng = np.random.default_rng(0)
    relevance = rng.random(30)
    emb = rng.normal(size=(30, 8))
    sims = emb @ emb.T
    assert mmr_rerank(relevance, sims, 5, 1.0) == np.argsort(-relevance)[:5].tolist()
    picked = mmr_rerank(relevance, sims, 5, 0.5)
    assert picked[0] == int(np.argmax(relevance)) and len(set(picked)) == 5


def test_mmr_pool_is_bounded_and_a_longer_list_continues_by_relevance(recommender, histories):
    """MMR re-ranks at most max_mmr_pool candidates (its similarity matrix is pool x pool);
    a list longer than the pool continues with the next items in relevance order."""
    import copy

    from recloop.serving.recommender import DEFAULT_MAX_MMR_POOL
    from recloop.settings import ServingSettings

    assert recommender.max_mmr_pool == DEFAULT_MAX_MMR_POOL == ServingSettings().max_mmr_pool
    bounded = copy.copy(recommender)
    bounded.max_mmr_pool = 15
    history = histories[2]
    recs = bounded.recommend(history, k=40, diversity_lambda=0.3)
    ids = [r["item_id"] for r in recs]
    assert len(ids) == 40 and len(set(ids)) == 40 and not set(ids) & set(history)
    relevance = [r["item_id"] for r in recommender.recommend(history, k=40)]
    assert set(ids[:15]) == set(relevance[:15])  # MMR reorders exactly the 15-item pool
    assert ids[:15] != relevance[:15]
    assert ids[15:] == relevance[15:]  # then relevance order
    unbounded = recommender.recommend(history, k=40, diversity_lambda=0.3)
    assert {r["item_id"] for r in unbounded} != set(ids)  # the bound changed the pool
