"""When to retrain: drift, decaying live relevance, an old champion, or enough new data.

A plain function the continual loop and the drift monitor call; every decision carries its
reasons, in words an operator can read in an alert or a run log, so "why did it retrain?"
always has an answer. The champion's age is read on the data clock (``recloop.clock``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from recloop.clock import champion_age_days
from recloop.drift.detect import DriftResult
from recloop.settings import Settings


@dataclass
class TriggerDecision:
    """Retrain or not, and why (empty ``reasons`` when not)."""

    should_retrain: bool
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Long: each trigger (drift, new events, the champion's age, the cooldown) is one short rule
# read in order; splitting them would scatter the decision's reasons.
def decide_retrain(
    settings: Settings,
    *,
    drift: DriftResult | None = None,
    champion_window_end: int | None = None,
    new_events: int | None = None,
    data_end: int | None = None,
    has_champion: bool = True,
) -> TriggerDecision:
    """Apply the retrain trigger policy (``settings.drift``).

    Args:
        settings: recloop settings; thresholds come from ``settings.drift``.
        drift: a ``DriftResult`` (drift verdict and, with a champion, its hit rate@k on the
            reference and current windows); None skips both checks.
        champion_window_end: end of the champion's training window (Unix seconds): its
            birth on the data clock.
        new_events: events that arrived after the champion's training window ended.
        data_end: one past the newest event judged (Unix seconds): "now" on the data
            clock. The age check runs when both it and ``champion_window_end`` are given.
        has_champion: False when nothing is in production yet: always retrain.

    Returns:
        TriggerDecision: ``should_retrain`` is True when any reason holds.
    """
    cfg = settings.drift
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    if not has_champion:
        reasons.append("no champion in the registry yet")
    if drift is not None:
        checks["drift_detected"] = bool(drift.drift_detected)
        if cfg.retrain_on_drift and drift.drift_detected:
            shown = ", ".join(drift.drifted_features[:5])
            more = (
                f" (+{len(drift.drifted_features) - 5} more)"
                if len(drift.drifted_features) > 5
                else ""
            )
            reasons.append(f"drift detected in {shown}{more}")
        decay = relevance_decay(drift, cfg.min_relevance_cases)
        checks["relevance_decay"] = decay
        if decay is not None and decay > cfg.max_relevance_decay:
            ref, cur = drift.relevance
            reasons.append(
                f"live relevance fell {decay:.0%} "
                f"(hit rate@{settings.eval.k} {ref:.3f} -> {cur:.3f}; "
                f"limit {cfg.max_relevance_decay:.0%})"
            )
    if champion_window_end is not None and data_end is not None:
        age_days = champion_age_days(champion_window_end, data_end)
        checks["champion_age_days"] = round(age_days, 2)
        if age_days > cfg.max_champion_age_days:
            reasons.append(
                f"champion is {age_days:.1f} days old (max {cfg.max_champion_age_days:g})"
            )
    if new_events is not None:
        checks["new_events"] = int(new_events)
        if new_events >= cfg.min_new_events:
            reasons.append(
                f"{new_events} new events since the champion's window (min {cfg.min_new_events})"
            )
    return TriggerDecision(should_retrain=bool(reasons), reasons=reasons, checks=checks)


def relevance_decay(drift: DriftResult, min_cases: int) -> float | None:
    """Relative drop of the champion's hit rate from reference to current window.

    None when there is no model signal or too few next-item cases to judge. Note the
    reference figure is in-sample when the reference is the champion's training window, so
    a small drop is normal; the threshold allows for it.
    """
    ref, cur = drift.relevance
    n_cur = drift.current_summary.get("relevance_cases", 0)
    n_ref = drift.reference_summary.get("relevance_cases", 0)
    if ref is None or cur is None or ref <= 0 or min(n_cur, n_ref) < min_cases:
        return None
    return max(0.0, (ref - cur) / ref)
