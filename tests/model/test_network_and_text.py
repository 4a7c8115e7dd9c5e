"""Item text, the embedding cache and the network's invariants (causality, cold items)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_item_texts_join_configured_fields(movielens):
    from recloop.model.text import item_texts

    texts = item_texts(movielens.items.head(2), ["title", "year", "genres"])
    assert texts[0] == "Toy Story; 1995; Animation, Children's, Comedy"


def test_catalog_embeddings_are_cached_on_disk(movielens, workspace, monkeypatch):
    from recloop.model import catalog_text_embeddings
    from recloop.model import text as text_module

    items = movielens.items.head(40)
    first = catalog_text_embeddings(workspace, items)
    assert first.shape == (40, 384)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)

    def no_encoder(name):
        raise AssertionError("the encoder was loaded although every text was cached")

    monkeypatch.setattr(text_module, "load_encoder", no_encoder)
    again = catalog_text_embeddings(workspace, items.iloc[::-1])
    np.testing.assert_allclose(again, first[::-1], atol=1e-6)


def _net(hybrid=True):
    from recloop.model.network import NetConfig, RecommenderNet

    torch.manual_seed(0)
    config = NetConfig(
        n_items=12, text_dim=6, hidden_dim=8, num_layers=1, max_len=6, dropout=0.0, hybrid=hybrid
    )
    return RecommenderNet(config, torch.randn(12, 6)).eval()


def test_user_tower_is_causal_and_ignores_left_padding():
    net = _net()
    vectors = net.item_vectors()
    seq = torch.tensor([[0, 0, 3, 4, 5, 6]])
    changed = torch.tensor([[0, 0, 3, 4, 5, 9]])
    a, b = net.user_states(seq, vectors), net.user_states(changed, vectors)
    torch.testing.assert_close(a[:, :-1], b[:, :-1])  # the future never leaks backwards
    shorter = net.user_states(torch.tensor([[3, 4, 5, 6]]), vectors)
    torch.testing.assert_close(a[:, -1], shorter[:, -1], rtol=1e-4, atol=1e-5)


def test_unseen_items_are_represented_by_text_alone():
    net = _net()
    with torch.no_grad():
        net.seen_mask[1:7] = 1.0
    vectors = net.item_vectors()
    text_only = net.text_proj(net.text_bank)
    torch.testing.assert_close(vectors[7:], text_only[7:])
    assert not torch.allclose(vectors[1:7], text_only[1:7])


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_id_dropout_only_acts_in_training(dropout):
    from recloop.training.objective import NextItemObjective

    net = _net()
    with torch.no_grad():
        net.seen_mask[1:] = 1.0
    objective = NextItemObjective(net, id_dropout=dropout).eval()
    batch = (
        torch.tensor([[1, 2, 3]]),
        torch.tensor([[2, 3, 4]]),
        torch.ones(1, 3),
        torch.zeros(1, 3).long(),
    )
    assert torch.isfinite(objective(*batch))
    assert objective(*batch) == objective(*batch)  # eval: deterministic, no id dropout


def test_item_birth_prefers_first_seen_then_release_year(movielens):
    import pandas as pd

    from recloop.model.new_items import item_birth_days

    items = movielens.items.head(3).copy()
    items["first_seen"] = pd.array([None, 864_000, None], dtype="Int64")
    items.loc[items.index[2], "year"] = None
    birth = item_birth_days(items)
    toy_story = np.datetime64("1970-01-01") + int(birth[0])
    assert str(toy_story) == "1995-07-01"  # release year 1995: born mid-year
    assert birth[1] == 10.0  # the catalog's first_seen wins (Unix seconds -> days)
    assert np.isnan(birth[2])


def test_new_arrivals_are_unseen_items_born_recently_relative_to_each_request():
    from recloop.model.new_items import new_arrivals

    unseen = np.array([True, True, True, False, True])
    birth = np.array([1000.0, 700.0, 1200.0, 1000.0, np.nan], dtype=np.float32)
    days = np.array([1000.0, 1500.0], dtype=np.float32)
    new = new_arrivals(unseen, birth, days, max_age_days=365.0)
    # at day 1000: born today, 300 days ago, not yet (a release year runs ahead of its
    # mid-year birth), seen in training (never new), undated in a dated catalog (not new)
    assert new.tolist() == [
        [True, True, True, False, False],
        [False, False, True, False, False],
    ]
    undated_catalog = new_arrivals(unseen, np.full(5, np.nan, np.float32), days, 365.0)
    assert undated_catalog.tolist() == [unseen.tolist()] * 2  # no dates: every unseen item


def test_id_only_items_ignore_text_and_need_ids():
    """The id-only ablation (use_text=False): two items with different text but no id
    vector yet score the same, and trained ids alone tell them apart."""
    from recloop.model.network import NetConfig, RecommenderNet

    config = NetConfig(n_items=8, text_dim=4, hidden_dim=8, num_heads=2, max_len=6)
    config.use_text = False
    net = RecommenderNet(config, torch.randn(8, 4))
    vectors = net.item_vectors()
    assert torch.count_nonzero(vectors) == 0  # nothing seen yet: no text to fall back on
    with torch.no_grad():
        net.seen_mask[1:5] = 1.0
    vectors = net.item_vectors()
    torch.testing.assert_close(vectors[1:5], net.id_embedding.weight[1:5])
    assert torch.count_nonzero(vectors[5:]) == 0
    config = NetConfig(n_items=8, text_dim=4, hybrid=False, use_text=False)
    with pytest.raises(ValueError, match=r"text .* or id"):
        RecommenderNet(config)
