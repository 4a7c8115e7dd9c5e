"""The CPU dropout of the user tower: the drop rate, the scaling and the gradient."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.model.network import ByteDropout, byte_dropout


@settings(max_examples=30, deadline=None)
@given(
    p=st.floats(0.01, 0.9),
    shape=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    seed=st.integers(0, 2**31),
)
def test_kept_values_are_scaled_and_the_rest_zero(p, shape, seed):
    torch.manual_seed(seed)
    x = torch.rand(shape) + 0.5  # no zeros of its own
    y = byte_dropout(x, p)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    torch.manual_seed(seed)
    again = torch.rand(shape) + 0.5
    torch.testing.assert_close(byte_dropout(again, p), y)  # torch's seed decides the mask


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_the_drop_rate_is_p(p):
    torch.manual_seed(0)
    n = 2_000_000
    dropped = float((byte_dropout(torch.ones(n), p) == 0).float().mean())
    # five binomial standard deviations, plus the 1/65536 resolution of p
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n) + 2**-16


def test_the_gradient_is_masked_and_scaled_as_the_values():
    torch.manual_seed(1)
    x = torch.rand(50, 20, requires_grad=True)
    y = byte_dropout(x, 0.4)
    y.sum().backward()
    expected = (y.detach() != 0).float() / 0.6
    torch.testing.assert_close(x.grad, expected)


def test_the_module_is_the_identity_in_eval_mode_and_at_p_zero():
    x = torch.rand(10, 10)
    layer = ByteDropout(0.5).eval()
    assert layer(x) is x
    assert ByteDropout(0.0).train()(x) is x
