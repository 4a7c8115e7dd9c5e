"""Recommender.score equals the plain path: every history padded to max_len, the full user
tower, its last position (the path before the scoring shortcuts), chunk boundaries included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow


def _plain_scores(rec, histories, scenarios=None, times=None) -> np.ndarray:
    """Scores as Recommender.score computed them with ``user_states(...)[:, -1]``."""
    from recloop.model.inputs import left_pad
    from recloop.model.new_items import new_arrivals, to_days

    columns = rec._known_columns(histories)
    out = np.empty((len(columns), len(rec.item_ids)), dtype=np.float32)
    names = scenarios if scenarios is not None else [None] * len(columns)
    with torch.inference_mode():
        for start in range(0, len(columns), 100):
            chunk = columns[start : start + 100]
            tight = left_pad([c + 1 for c in chunk], rec.max_len)
            seqs = np.zeros((len(chunk), rec.max_len), dtype=np.int64)
            seqs[:, -tight.shape[1] :] = tight
            scen = torch.tensor(
                [rec._scenario_of.get(s, 0) if s else 0 for s in names[start : start + 100]]
            )
            states = rec.net.user_states(torch.from_numpy(seqs), rec._vectors, scen)[:, -1]
            out[start : start + len(chunk)] = rec.net.logits(states, rec._vectors).numpy()
    if rec.new_items.boost:
        new = new_arrivals(rec._unseen, rec._birth, to_days(times, len(columns)), 365.0)
        np.add(out, np.float32(rec.new_items.boost), out=out, where=new)
    for row, cols in enumerate(columns):
        if not len(cols):
            out[row] = np.log1p(rec.popularity)
    return out


@pytest.fixture(scope="module")
def histories(ml_slice):
    """Prefixes of real histories, 0 to 45 events (max_len is 30), shuffled: 322 rows, so
    more than one chunk, and chunks that mix short, long and empty histories."""
    events, _ = ml_slice
    ordered = events.sort_values("timestamp", kind="stable")
    users = [g.tolist() for _, g in ordered.groupby("user_id")["item_id"]][:7]
    rows = [user[:n] for user in users for n in range(46)] + [[987654321]]  # unknown only
    return [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]


def test_trained_model_scores_equal_the_plain_path(trained_model_dir, histories):
    from recloop.model.new_items import NewItemBoost
    from recloop.serving import load_recommender

    rec = load_recommender(str(trained_model_dir))
    rec.new_items = NewItemBoost(boost=2.0, max_age_days=365.0)
    times = [875_000_000.0] * len(histories)  # 1997: some unseen films are new arrivals
    np.testing.assert_allclose(
        rec.score(histories, times=times),
        _plain_scores(rec, histories, times=times),
        rtol=1e-5,
        atol=1e-5,
    )


def test_two_layer_model_with_scenarios_scores_equal_the_plain_path(trained_model_dir, histories):
    """A deeper tower (layers below the last run in full) and per-request scenarios."""
    from recloop.model import artifacts
    from recloop.model.network import NetConfig, RecommenderNet
    from recloop.serving import Recommender

    items = artifacts.load_items(trained_model_dir)
    text = artifacts.load_array(trained_model_dir, artifacts.TEXT_EMBEDDINGS_FILE)
    popularity = artifacts.load_array(trained_model_dir, artifacts.POPULARITY_FILE)
    torch.manual_seed(0)
    config = NetConfig(
        n_items=len(items),
        text_dim=text.shape[1],
        hidden_dim=32,
        num_layers=2,
        max_len=30,
        scenarios=["web", "app"],
    )
    net = RecommenderNet(config, torch.from_numpy(text))
    with torch.no_grad():
        net.seen_mask[1:] = torch.from_numpy((popularity > 0).astype(np.float32))
        net.scenario_embedding.weight.normal_()
    net.eval()
    vectors = net.item_vectors().detach()[1:].numpy()
    rec = Recommender(net, {"net": config.to_dict()}, items, vectors, text, popularity)
    scenarios = [("web", "app", None, "unknown")[i % 4] for i in range(len(histories))]
    np.testing.assert_allclose(
        rec.score(histories, scenarios),
        _plain_scores(rec, histories, scenarios),
        rtol=1e-5,
        atol=1e-5,
    )
