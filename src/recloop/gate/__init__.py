"""The promotion gate: a challenger replaces the champion only when every check passes.

Three jobs, kept apart (as TFX keeps Evaluator, InfraValidator and Pusher apart):

- ``policy.py`` + ``gate_policy.yaml``: what the gate demands (versioned YAML);
- ``decision.py``: the decision, a pure function of metrics, per-user arrays and the probe;
- ``holdout.py``: running challenger and champion on the same fresh holdout (Evaluator);
- ``infra.py``: fresh-process load, answers, NaN and latency of the pyfunc (InfraValidator);
- ``record.py``: writing the decision to the registry and promoting a pass (Pusher).
"""

from recloop.gate.decision import (
    Check,
    GateDecision,
    InfraProbe,
    decide,
    rejected_by_error,
    render_markdown,
    superseded,
)
from recloop.gate.holdout import evaluate_gate
from recloop.gate.policy import GatePolicy, load_gate_policy
from recloop.gate.record import apply_decision, decision_metrics, decision_tags

__all__ = [
    "Check",
    "GateDecision",
    "GatePolicy",
    "InfraProbe",
    "apply_decision",
    "decide",
    "decision_metrics",
    "decision_tags",
    "evaluate_gate",
    "load_gate_policy",
    "rejected_by_error",
    "render_markdown",
    "superseded",
]
