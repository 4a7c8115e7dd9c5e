"""The drift policy file: per-feature method and threshold, and the dataset-level rule.

The file (``settings.drift.policy_file``, default ``drift_policy.yaml`` next to this module)
is validated when read, so a typo in a method name fails with one clear line instead of a
silent default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from recloop.errors import UnusableInputError

DISTANCE_METHODS = frozenset({"wasserstein", "jensenshannon", "psi", "hellinger", "kl_div", "ed"})
PVALUE_METHODS = frozenset(
    {
        "ks",
        "chisquare",
        "z",
        "t_test",
        "mannw",
        "anderson",
        "cramer_von_mises",
        "fisher_exact",
        "g_test",
        "epps_singleton",
        "empirical_mmd",
    }
)

Method = str


class MethodRule(BaseModel):
    method: Method
    threshold: float = Field(ge=0)


class FeatureRule(BaseModel):
    method: Method | None = None
    threshold: float | None = Field(None, ge=0)
    alarm: bool = True


class DecisionRule(BaseModel):
    min_drifted_features: int = Field(1, ge=1)
    min_share_drifted: float = Field(0.0, ge=0, le=1)


class DriftPolicy(BaseModel):
    """The parsed policy file."""

    version: int = 1
    defaults: dict[Literal["numerical", "categorical"], MethodRule]
    min_rows: int = Field(30, ge=1)
    features: dict[str, FeatureRule] = Field(default_factory=dict)
    decision: DecisionRule = Field(default_factory=DecisionRule)

    def rule_for(self, feature: str, kind: str) -> ResolvedRule:
        """Method, threshold and alarm flag of ``feature`` ("table.column") of type ``kind``."""
        default = self.defaults[kind]  # type: ignore[index]
        own = self.features.get(feature, FeatureRule())
        method = own.method or default.method
        threshold = own.threshold if own.threshold is not None else default.threshold
        return ResolvedRule(method=method, threshold=threshold, alarm=own.alarm)


@dataclass(frozen=True)
class ResolvedRule:
    method: str
    threshold: float
    alarm: bool

    @property
    def is_pvalue(self) -> bool:
        return self.method in PVALUE_METHODS

    def drifted(self, score: float) -> bool:
        """Distances drift at or above the threshold; p-values below it."""
        return score < self.threshold if self.is_pvalue else score >= self.threshold


def load_policy(path: str | Path) -> DriftPolicy:
    """Read and validate a drift policy file.

    Raises:
        UnusableInputError: the file is missing, not YAML, or has an unknown method.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
        policy = DriftPolicy.model_validate(raw)
    except FileNotFoundError:
        raise UnusableInputError(f"drift policy file not found: {path}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0:3]
        raise UnusableInputError(f"invalid drift policy {path}: {' '.join(first)}") from None
    known = DISTANCE_METHODS | PVALUE_METHODS
    methods = [r.method for r in policy.defaults.values()] + [
        r.method for r in policy.features.values() if r.method
    ]
    unknown = sorted(set(methods) - known)
    if unknown:
        raise UnusableInputError(f"invalid drift policy {path}: unknown method(s) {unknown}")
    return policy
