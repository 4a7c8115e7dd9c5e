"""Batched validation ranks, masks and scores exactly as the whole-matrix reference does.

The reference holds every case's scores (the straightforward way, as validation used to):
masks each case's history in a Python loop, argsorts whole rows stably and averages
per-case losses. The batched code must give the same top-10 lists, metrics and loss on
real MovieLens-100k cases, including exact score ties and the new-item bonus.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def tied_net_and_cases(movielens):
    """A small network over ML-100k where all but the last 50 items share one text and
    have no id part.

    Those items score exactly the same for every user, so the tie rule (lower index
    first) decides which of them fill each top-10.
    """
    from recloop.model.network import NetConfig, RecommenderNet
    from recloop.training.prepare import prepare_problem

    problem = prepare_problem(movielens.events, movielens.items)
    n = len(problem.item_ids)
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((n, 16)).astype(np.float32)
    bank[:-50] = bank[0]
    torch.manual_seed(0)
    net = RecommenderNet(NetConfig(n_items=n, text_dim=16, hidden_dim=16, max_len=20), bank)
    with torch.no_grad():
        net.seen_mask[1:] = torch.from_numpy((np.arange(n) >= n - 50).astype(np.float32))
    return net, problem.valid_cases


def reference(net, cases, bonus=0.0, new=None):
    """Top-10 (1-based) and mean loss from the full masked score matrix."""
    from recloop.model.inputs import left_pad

    net.eval()
    with torch.no_grad():
        vectors = net.item_vectors()
        seqs = torch.as_tensor(left_pad([c.history for c in cases], net.config.max_len))
        scen = torch.as_tensor([c.scenario for c in cases])
        logits = net.logits(net.user_states(seqs, vectors, scen)[:, -1], vectors).float()
        log_probs = torch.log_softmax(logits, dim=-1)
    losses = [-log_probs[r, c.targets - 1].mean().item() for r, c in enumerate(cases)]
    scores = logits.numpy().copy()
    for row, case in enumerate(cases):
        scores[row, case.history - 1] = -np.inf
    if new is not None:
        scores = scores + bonus * new
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10] + 1
    return top, float(np.mean(losses))


def test_batched_validation_equals_the_whole_matrix(tied_net_and_cases):
    from recloop.training.objective import (
        ranking_metrics,
        top_k_metrics,
        validation_metrics,
        validation_ranking,
        validation_scores,
    )

    net, cases = tied_net_and_cases
    cases = cases[:400]
    want_top, want_loss = reference(net, cases)
    got = validation_ranking(net, cases, 10, batch_size=64)
    np.testing.assert_array_equal(got.top[0.0], want_top)
    assert got.loss == pytest.approx(want_loss, rel=1e-5)
    assert (want_top <= net.config.n_items - 50).any()  # the tie rule chose among 1,632
    metrics = validation_metrics(net, cases, 10)
    assert metrics == pytest.approx(
        {"loss": want_loss, **top_k_metrics(want_top, cases, 10)}, rel=1e-5
    )
    scores, loss = validation_scores(net, cases, batch_size=100)
    assert ranking_metrics(scores, cases, 10) == top_k_metrics(want_top, cases, 10)
    assert loss == pytest.approx(want_loss, rel=1e-5)
    assert net.training  # validation leaves the network in training mode


def test_new_item_bonus_ranks_as_the_whole_matrix_plus_bonus(tied_net_and_cases):
    from recloop.model.new_items import new_arrivals
    from recloop.training.objective import validation_ranking

    net, cases = tied_net_and_cases
    cases = cases[:300]
    n_items = net.config.n_items
    unseen = np.random.default_rng(1).random(n_items) < 0.2
    birth = np.where(np.arange(n_items) % 2 == 0, 10_100.0, np.nan).astype(np.float32)
    days = np.array([c.time for c in cases], dtype=np.float32)
    bonuses = [0.0, 0.5, 3.0]
    got = validation_ranking(
        net,
        cases,
        10,
        bonuses=bonuses,
        bonus_items=lambda rows: new_arrivals(unseen, birth, days[rows], 365.0),
        batch_size=128,
    )
    new = new_arrivals(unseen, birth, days, 365.0)
    assert new.any()
    for bonus in bonuses:
        want, _ = reference(net, cases, bonus, new)
        np.testing.assert_array_equal(got.top[bonus], want)
    assert not np.array_equal(got.top[3.0], got.top[0.0])  # the bonus changed lists
