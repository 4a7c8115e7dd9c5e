"""The training loss equals torch's weighted cross-entropy, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.training.softmax_loss import weighted_softmax_cross_entropy


def _reference(logits, targets, weights):
    losses = F.cross_entropy(logits, targets, reduction="none")
    return (losses * weights).sum() / weights.sum().clamp(min=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 12),
    classes=st.integers(2, 30),
    scale=st.floats(0.1, 30.0),
    seed=st.integers(0, 2**31),
    zero_weights=st.booleans(),
)
def test_value_and_gradient_equal_torchs_cross_entropy(rows, classes, scale, seed, zero_weights):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, classes, generator=gen, dtype=torch.float64) * scale
    targets = torch.randint(0, classes, (rows,), generator=gen)
    weights = torch.rand(rows, generator=gen, dtype=torch.float64)
    if zero_weights:
        weights[: rows // 2] = 0.0
    ours = logits.clone().requires_grad_()
    theirs = logits.clone().requires_grad_()
    got = weighted_softmax_cross_entropy(ours, targets, weights)
    expected = _reference(theirs, targets, weights)
    torch.testing.assert_close(got, expected)
    (got * 1.7).backward()
    (expected * 1.7).backward()
    torch.testing.assert_close(ours.grad, theirs.grad)


def test_a_second_backward_through_the_same_graph_is_refused():
    logits = torch.randn(3, 5, requires_grad=True)
    loss = weighted_softmax_cross_entropy(logits, torch.tensor([0, 1, 4]), torch.ones(3))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        loss.backward()
