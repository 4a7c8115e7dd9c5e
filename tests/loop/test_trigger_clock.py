"""The loop's retrain trigger reads the champion's age on the data clock (recloop.clock)."""

from __future__ import annotations

from recloop.clock import SECONDS_PER_DAY
from recloop.loop.plan import StepPlan
from recloop.loop.stages import decide_retrain
from recloop.registry import ModelVersionInfo
from recloop.settings import Settings

T0 = 880_000_000  # November 1997: a replay's clock, decades behind the wall clock


def champion(window_end: int) -> ModelVersionInfo:
    return ModelVersionInfo("1", None, "models:/m/1", T0, window_end, window_end + 60, {})


def test_an_old_champion_on_the_data_clock_triggers_and_a_fresh_one_does_not():
    settings = Settings()
    max_days = settings.drift.max_champion_age_days
    born = T0 + 10 * SECONDS_PER_DAY
    old_end = int(born + (max_days + 1) * SECONDS_PER_DAY)
    old = StepPlan("incremental", born, old_end - 3 * SECONDS_PER_DAY, old_end, champion(born))
    decision = decide_retrain(settings, old, None, 0)
    assert decision.should_retrain
    assert decision.reasons == [f"champion is {max_days + 1:.1f} days old (max {max_days:g})"]

    # The same champion a week into its data: young, although registered decades ago.
    fresh_end = born + 7 * SECONDS_PER_DAY
    fresh = StepPlan("incremental", born, fresh_end - 3 * SECONDS_PER_DAY, fresh_end, old.parent)
    assert not decide_retrain(settings, fresh, None, 0).should_retrain
    assert decide_retrain(settings, fresh, None, 0).checks["champion_age_days"] == 7.0
