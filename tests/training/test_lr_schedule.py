"""The learning-rate multiplier: warm-up, then a planned linear fall to zero under a budget."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from recloop.training.lr_schedule import WarmupThenBudgetDecay, epochs_that_fit


@given(warmup=st.integers(0, 50), steps=st.integers(1, 500))
def test_without_a_plan_it_is_the_linear_warm_up_then_one(warmup: int, steps: int) -> None:
    multiplier = WarmupThenBudgetDecay(warmup)
    values = [multiplier(s) for s in range(steps)]
    assert values == [min(1.0, (s + 1) / max(1, warmup)) for s in range(steps)]


@given(plans=st.lists(st.tuples(st.integers(1, 200), st.integers(0, 400)), min_size=1, max_size=6))
def test_plans_fall_without_jumps_to_zero_at_their_end(plans: list[tuple[int, int]]) -> None:
    """Re-planned at each epoch end: the rate never rises after warm-up, a new plan starts
    where the old one was, and it is zero from its end step on."""
    multiplier = WarmupThenBudgetDecay(0)
    step, previous = 0, 1.0
    for epoch_steps, remaining in plans:
        before = multiplier(step)
        multiplier.plan(step, step + remaining)
        assert multiplier(step) == pytest.approx(before)
        end = multiplier.end_step
        assert multiplier(end) == 0.0 and multiplier(end + 7) == 0.0
        for s in range(step, step + epoch_steps):
            assert 0.0 <= multiplier(s) <= previous + 1e-12
            previous = multiplier(s)
        step += epoch_steps


def test_the_plan_is_saved_and_restored_with_the_scheduler() -> None:
    """LambdaLR saves a callable object's attributes: a resumed run keeps the plan."""

    def scheduler():
        param = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([param], lr=1.0)
        multiplier = WarmupThenBudgetDecay(3)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier), multiplier

    first, planned = scheduler()
    for _ in range(5):
        first.optimizer.step()
        first.step()
    planned.plan(5, 15)
    resumed, fresh = scheduler()
    resumed.load_state_dict(first.state_dict())
    assert vars(fresh) == vars(planned)
    assert fresh(10) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("budget", "spent", "epoch", "fit"),
    [(600, 100, 100, 5), (600, 100, 101, 4), (600, 600, 10, 0), (600, 700, 10, 0), (60, 0, 0, 0)],
)
def test_epochs_that_fit(budget: float, spent: float, epoch: float, fit: int) -> None:
    assert epochs_that_fit(budget, spent, epoch) == fit


def test_a_plan_that_reached_zero_stays_finished() -> None:
    """Epoch lengths jitter: a later estimate may find room for one more epoch after the
    plan has reached zero. It is not reopened (that epoch would run at rate zero and learn
    nothing); ``ended`` tells the loop to stop instead."""
    multiplier = WarmupThenBudgetDecay(0)
    multiplier.plan(10, 20)
    assert not multiplier.ended(19) and multiplier(19) > 0
    assert multiplier.ended(20) and multiplier(20) == 0.0
    multiplier.plan(20, 30)
    assert multiplier.end_step == 20 and multiplier(25) == 0.0 and multiplier.ended(25)
    assert not WarmupThenBudgetDecay(5).ended(1_000)  # no plan, never ended
