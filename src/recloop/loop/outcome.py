"""What one loop step did, typed: its final state and each stage's result.

``StepOutcome.to_dict`` is the ``continual`` flow's JSON return value (the simulation and
operators read it); everything before that edge stays typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recloop.data.ingest import IngestReport
from recloop.drift import DriftResult, TriggerDecision
from recloop.gate import GateDecision
from recloop.loop.plan import StepPlan
from recloop.loop.train import Candidate


class StepStatus(StrEnum):
    """Where a step ended (TRAINED only while the gate has not concluded)."""

    NO_NEW_DATA = "no-new-data"
    NO_RETRAIN = "no-retrain"
    ALREADY_DONE = "already-done"
    TRAINED = "trained"
    PROMOTED = "promoted"
    REJECTED = "rejected"


@dataclass
class StepOutcome:
    """What one loop step did; the flow's return value (as a dict) and the simulation's record."""

    status: StepStatus = StepStatus.NO_NEW_DATA
    plan: StepPlan | None = None
    ingest: list[IngestReport] = field(default_factory=list)
    drift: DriftResult | None = None
    trigger: TriggerDecision | None = None
    candidate: Candidate | None = None
    gate: GateDecision | None = None
    reasons: list[str] = field(default_factory=list)

    def batch_ids(self) -> list[str]:
        """Ingest batches of this step (the candidate's lineage)."""
        return [report.batch_id for report in self.ingest if report.batch_id]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the flow's return value."""
        return {
            "status": str(self.status),
            "plan": self.plan.to_dict() if self.plan else None,
            "ingest": [report.to_dict() for report in self.ingest],
            "drift": self.drift.to_dict() if self.drift else None,
            "trigger": self.trigger.to_dict() if self.trigger else None,
            "candidate": self.candidate.to_dict() if self.candidate else None,
            "gate": self.gate.to_dict() if self.gate else None,
            "reasons": list(self.reasons),
        }
