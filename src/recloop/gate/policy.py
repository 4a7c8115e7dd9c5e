"""The gate's policy: a versioned YAML file (``settings.gate.policy_file``, default
``gate_policy.yaml`` next to this module) validated into :class:`GatePolicy`.

A bad or empty policy is a one-line error (exit 2); a policy without floors is refused,
because the gate fails closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from recloop.errors import RecloopError


class InfraPolicy(BaseModel):
    """Checks on the registered pyfunc itself."""

    fresh_process_load: bool = True
    load_timeout_seconds: float = Field(300, gt=0)
    min_answered_fraction: float = Field(1.0, gt=0, le=1)
    p95_latency_ms: float = Field(gt=0)
    latency_requests: int = Field(30, gt=0)


class GainPolicy(BaseModel):
    """Required improvement of the primary metric over the champion."""

    min_gain: float = Field(0.0, ge=0)
    alpha: float = Field(gt=0, lt=1)


class GatePolicy(BaseModel):
    """The parsed ``gate_policy.yaml`` (see that file for the meaning of each field)."""

    version: int
    k: int = Field(gt=0)
    primary_metric: str
    direction: dict[str, Literal["higher", "lower"]] = Field(default_factory=dict)
    floors: dict[str, float]
    tolerances: dict[str, float] = Field(default_factory=dict)
    required_gain: GainPolicy
    infrastructure: InfraPolicy

    @field_validator("floors")
    @classmethod
    def _floors_present(cls, floors: dict[str, float]) -> dict[str, float]:
        if not floors:
            raise ValueError("no absolute floors configured (the gate fails closed)")
        return floors

    @field_validator("tolerances")
    @classmethod
    def _tolerances_fractions(cls, tolerances: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in tolerances.items() if not 0 <= v < 1}
        if bad:
            raise ValueError(f"tolerances must be fractions in [0, 1): {bad}")
        return tolerances

    def greater_is_better(self, metric: str) -> bool:
        return self.direction.get(metric, "higher") == "higher"

    def metrics_needed(self, with_champion: bool) -> list[str]:
        names = set(self.floors)
        if with_champion:
            names |= set(self.tolerances) | {self.primary_metric}
        return sorted(names)


def load_gate_policy(path: str | Path) -> GatePolicy:
    """Read and validate a gate policy; a bad or empty policy is a one-line error (exit 2)."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
        return GatePolicy.model_validate(raw or {})
    except OSError as exc:
        raise RecloopError(f"gate policy {path}: {exc.strerror}", exit_code=2) from None
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).replace("\n", " ")[:300]
        raise RecloopError(f"gate policy {path} is invalid: {first}", exit_code=2) from None
