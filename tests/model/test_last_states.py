"""Scoring's shortcut through the user tower equals the full tower's last position."""

from __future__ import annotations

import pytest
import torch


def _net(num_layers: int):
    from recloop.model.network import NetConfig, RecommenderNet

    torch.manual_seed(num_layers)
    config = NetConfig(
        n_items=30,
        text_dim=6,
        hidden_dim=16,
        num_heads=2,
        num_layers=num_layers,
        max_len=8,
        dropout=0.3,  # inactive in eval mode, as when scoring
        scenarios=["web", "app"],
    )
    net = RecommenderNet(config, torch.randn(30, 6))
    with torch.no_grad():
        net.seen_mask[1:20] = 1.0
        net.scenario_embedding.weight.normal_()  # zero at init: make scenarios count
    return net.eval()


# Left-padded rows of mixed lengths: empty, one event, short, max_len, longer than max_len.
SEQUENCES = torch.tensor(
    [
        [0] * 10,
        [0] * 9 + [5],
        [0] * 6 + [3, 7, 1, 30],
        [0, 0, *range(1, 9)],
        list(range(11, 21)),
    ]
)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_last_states_equal_the_full_towers_last_position(num_layers):
    net = _net(num_layers)
    vectors = net.item_vectors()
    per_user = torch.tensor([0, 1, 2, 1, 0])
    per_position = torch.randint(0, 3, SEQUENCES.shape)  # only the last column counts
    with torch.inference_mode():
        for scenarios in (None, per_user, per_position):
            full = net.user_states(SEQUENCES, vectors, scenarios)[:, -1]
            last = net.last_states(SEQUENCES, vectors, scenarios)
            assert torch.isfinite(last).all()
            torch.testing.assert_close(last, full, rtol=1e-5, atol=1e-5)


def test_last_states_do_not_depend_on_the_padding_width():
    """A batch padded to its longest history scores as one padded to max_len."""
    net = _net(2)
    vectors = net.item_vectors()
    short = SEQUENCES[1:3]  # histories of 1 and 4 events
    with torch.inference_mode():
        wide = net.last_states(short, vectors)
        for width in (4, 6, 8):
            torch.testing.assert_close(
                net.last_states(short[:, -width:], vectors), wide, rtol=1e-5, atol=1e-5
            )


def test_logits_into_a_given_buffer_equal_the_returned_ones():
    net = _net(1)
    net.config.temperature = 0.5
    vectors = net.item_vectors()
    with torch.inference_mode():
        states = net.last_states(SEQUENCES, vectors)
        out = torch.empty(len(SEQUENCES), net.config.n_items)
        assert net.logits(states, vectors, out=out) is out
        torch.testing.assert_close(out, net.logits(states, vectors))


def _reference_states(net, sequences, vectors):
    """The user tower as torch's own TransformerEncoder computes it (float mask per head)."""
    x, pad = net._embed(sequences, vectors)
    length = x.shape[1]
    blocked = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    blocked = (blocked.unsqueeze(0) | pad.unsqueeze(1)) & ~torch.eye(length, dtype=torch.bool)
    mask = blocked.repeat_interleave(net.config.num_heads, dim=0)
    return net.final_norm(net.user_encoder(x, mask=mask))


@pytest.mark.parametrize("num_layers", [1, 2])
def test_the_written_out_tower_equals_torchs_encoder(num_layers):
    net = _net(num_layers)
    vectors = net.item_vectors()
    with torch.inference_mode():
        torch.testing.assert_close(
            net.user_states(SEQUENCES, vectors),
            _reference_states(net, SEQUENCES, vectors),
            rtol=1e-5,
            atol=1e-5,
        )


def test_the_training_attention_path_equals_the_fused_one_without_drops(monkeypatch):
    """In training mode on the CPU attention is written out (for its cheap dropout); with
    every drop turned off it must give what scoring's fused attention gives."""
    import recloop.model.network as network

    net = _net(2)
    vectors = net.item_vectors()
    with torch.no_grad():
        expected = net.user_states(SEQUENCES, vectors)
    monkeypatch.setattr(network, "byte_dropout", lambda x, p: x)
    net.train()
    with torch.no_grad():
        got = net.user_states(SEQUENCES, vectors)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
