"""One step of the continual loop, as a small state machine over typed stage results.

::

    ingest -> plan --(nothing beyond the champion's window)------------> NO_NEW_DATA
               |
               +-- recorded candidate of this window, already gated ----> ALREADY_DONE
               +-- recorded candidate, not gated yet -------------------> TRAINED
               +-- drift + trigger --(no reason to retrain)-------------> NO_RETRAIN
                                   +-- train + register ---------------> TRAINED
    TRAINED -> gate -> conclude (under the registry lock) -------------> PROMOTED | REJECTED

:func:`run_step` owns these transitions; the stage calls come from a :class:`Stages`
object. The plain one calls the library functions directly (tests, scripts); the
``continual`` flow (``recloop.loop.flows``) passes one whose methods run Prefect tasks, and
keeps for itself what is Prefect's: retries, artifacts, events. The outcome is typed
(:class:`StepOutcome`); ``to_dict`` gives the flow's JSON return value.
"""

from __future__ import annotations

import pandas as pd

from recloop.data.ingest import IngestReport
from recloop.data.store import load_items
from recloop.drift import DriftResult, TriggerDecision
from recloop.gate import GateDecision
from recloop.loop import stages
from recloop.loop.ingest import ingest_batches
from recloop.loop.outcome import StepOutcome, StepStatus
from recloop.loop.plan import StepPlan, TrainMode, new_event_count, plan_step
from recloop.loop.train import Candidate
from recloop.settings import Settings

__all__ = ["Stages", "StepOutcome", "StepStatus", "run_step", "send_step_alerts"]


class Stages:
    """The stage calls of one step, run in this process (the flow runs them as tasks)."""

    def ingest(self, settings: Settings, paths: list[str]) -> list[IngestReport]:
        return ingest_batches(settings, paths)

    def plan(self, settings: Settings, mode: TrainMode) -> StepPlan | None:
        return plan_step(settings, mode)

    def catalog(self, settings: Settings) -> pd.DataFrame:
        return load_items(settings)

    def recorded(self, settings: Settings, plan: StepPlan) -> Candidate | None:
        return stages.recorded_outcome(settings, plan)

    def decided(self, settings: Settings, candidate: Candidate) -> bool:
        return stages.decision_of(settings, candidate) is not None

    def drift(self, settings: Settings, plan: StepPlan, items: pd.DataFrame) -> DriftResult | None:
        return stages.check_drift(settings, plan, items)

    def trigger(
        self, settings: Settings, plan: StepPlan, drift: DriftResult | None
    ) -> TriggerDecision:
        return stages.decide_retrain(settings, plan, drift, new_event_count(settings, plan))

    def train(
        self, settings: Settings, plan: StepPlan, items: pd.DataFrame, batch_ids: list[str]
    ) -> Candidate:
        return stages.train_candidate(settings, plan, items, batch_ids)

    def gate(
        self, settings: Settings, plan: StepPlan, candidate: Candidate, items: pd.DataFrame
    ) -> GateDecision:
        return stages.gate_candidate(settings, plan, candidate, items)

    def conclude(
        self, settings: Settings, plan: StepPlan, candidate: Candidate, decision: GateDecision
    ) -> tuple[StepStatus, GateDecision]:
        return stages.conclude(settings, plan, candidate, decision)

    def notify(self, settings: Settings, outcome: StepOutcome) -> None:
        send_step_alerts(settings, outcome)


def run_step(
    settings: Settings,
    paths: list[str],
    mode: TrainMode = "incremental",
    calls: Stages | None = None,
) -> StepOutcome:
    """Ingest ``paths``, then walk the step's states (module docstring) to a final one."""
    calls = calls or Stages()
    outcome = StepOutcome(ingest=calls.ingest(settings, paths))
    plan = calls.plan(settings, mode)
    if plan is None:
        return outcome  # NO_NEW_DATA
    outcome.plan = plan
    items = calls.catalog(settings)
    candidate = calls.recorded(settings, plan)
    if candidate is not None and calls.decided(settings, candidate):
        outcome.status, outcome.candidate = StepStatus.ALREADY_DONE, candidate
        return outcome
    if candidate is None:
        outcome.drift = calls.drift(settings, plan, items)
        outcome.trigger = calls.trigger(settings, plan, outcome.drift)
        if not outcome.trigger.should_retrain:
            outcome.status, outcome.reasons = StepStatus.NO_RETRAIN, list(outcome.trigger.reasons)
            calls.notify(settings, outcome)
            return outcome
        candidate = calls.train(settings, plan, items, outcome.batch_ids())
    outcome.status, outcome.candidate = StepStatus.TRAINED, candidate
    decision = calls.gate(settings, plan, candidate, items)
    # Concluding holds the registry lock; the recorded decision can differ from the gate's
    # (a passing one is rejected when the champion moved while this step trained).
    outcome.status, outcome.gate = calls.conclude(settings, plan, candidate, decision)
    outcome.reasons = list(outcome.gate.reasons)
    calls.notify(settings, outcome)
    return outcome


def send_step_alerts(settings: Settings, outcome: StepOutcome) -> None:
    """The step's alerts: drift (deduplicated) and, once concluded, the gate's verdict."""
    concluded = outcome.status in (StepStatus.PROMOTED, StepStatus.REJECTED)
    stages.send_alerts(
        settings,
        drift_result=outcome.drift,
        trigger=outcome.trigger,
        data_end=float(outcome.plan.window_end) if outcome.plan else None,
        verdict=(str(outcome.status), outcome.candidate, outcome.reasons)
        if concluded and outcome.candidate is not None
        else None,
    )
