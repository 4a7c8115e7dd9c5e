"""Drift detection: window features, Evidently statistics, recloop's policy, retrain triggers.

Library entry points (the continual loop calls these)::

    from recloop.drift import run_drift_check, decide_retrain
    result = run_drift_check(settings, reference_events, current_events, items, scorer=champion)
    decision = decide_retrain(
        settings, drift=result, champion_window_end=..., data_end=..., new_events=...
    )

The drift stage knows neither the registry nor alerts: ``recloop.loop.monitor.check_store``
composes drift, registry and notify over the event store (``recloop drift`` and the monitor
flow). Evidently is imported only when a check runs.
"""

from recloop.drift.detect import DriftResult, FeatureStat, run_drift_check
from recloop.drift.triggers import TriggerDecision, decide_retrain

__all__ = ["DriftResult", "FeatureStat", "TriggerDecision", "decide_retrain", "run_drift_check"]
