"""The learning-rate multiplier: linear warm-up, then, under a time budget, linear decay to zero.

The decay is opt-in (``train.budget_lr_decay``): on MovieLens-1M in a 57-minute budget it
scored below the constant rate (docs/tuning.md), so it is kept for users to try on their own
budgets, not used by default. Why only under a budget: without one the run ends by early
stopping at an epoch nobody knows in advance. With ``train.max_train_minutes`` the end is
known, roughly: after each
epoch, the epochs that still fit are ``(budget - spent) // last epoch's length`` (capped by
the epoch cap), and the rate is planned to fall linearly from where it is to zero at the
last of them. Annealing to zero over the run's known length is what budgeted training
recommends (Li, Yumer and Ramanan, "Budgeted Training", ICLR 2020): a run cut short at a
constant rate keeps the noise of its last steps in its weights. The plan is re-made each
epoch, so epochs that grow shorter or longer move the end with them; a plan that has reached
zero stays finished (``ended``), and the run stops there: an epoch at rate zero learns nothing.

The multiplier is a plain object with plain attributes, so ``LambdaLR``'s ``state_dict``
saves the plan with the scheduler and a resumed run continues it.
"""

from __future__ import annotations


class WarmupThenBudgetDecay:
    """``LambdaLR`` multiplier: ``min(1, (step + 1) / warmup)`` times the planned decay."""

    def __init__(self, warmup_steps: int) -> None:
        self.warmup = max(1, warmup_steps)
        self.start_step: int | None = None  # no plan: no decay
        self.start_factor = 1.0
        self.end_step = 0

    def plan(self, step: int, end_step: int) -> None:
        """From ``step`` on, fall linearly from the current decay factor to zero at
        ``end_step`` (at least one step later); a plan already at zero is not reopened."""
        if self.ended(step):
            return
        self.start_factor = self.decay(step)
        self.start_step = step
        self.end_step = max(end_step, step + 1)

    def ended(self, step: int) -> bool:
        """Whether a plan has brought the rate to zero by ``step``."""
        return self.start_step is not None and step >= self.end_step

    def decay(self, step: int) -> float:
        if self.start_step is None:
            return 1.0
        left = (self.end_step - step) / (self.end_step - self.start_step)
        return self.start_factor * min(1.0, max(0.0, left))

    def __call__(self, step: int) -> float:
        return min(1.0, (step + 1) / self.warmup) * self.decay(step)


def epochs_that_fit(budget_seconds: float, spent: float, epoch_seconds: float) -> int:
    """Whole epochs as long as ``epoch_seconds`` that end within what is left of the budget."""
    if epoch_seconds <= 0:
        return 0
    return max(0, int((budget_seconds - spent) // epoch_seconds))
