"""One monitoring pass over the store: windows, champion, drift, retrain decision, alert.

It composes three stages (drift, registry, notify), hence its place in the loop package.
Shared by ``recloop drift`` and the ``monitor`` flow (``recloop.loop.flows``), which only
wraps it. The continual step, which already holds its windows and events, calls
``run_drift_check`` and ``decide_retrain`` directly instead. The champion's age is read on
the data clock (``recloop.clock``): the end of the current window against the end of the
champion's training window. The report goes to a run in the drift experiment, named by the
checked window like a loop step's (``recloop.loop.provenance.monitor_drift_run``).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recloop.clock import SECONDS_PER_DAY, iso_date, parse_instant
from recloop.data.store import load_events, load_items
from recloop.drift.detect import DriftResult, Window, run_drift_check
from recloop.drift.triggers import TriggerDecision, decide_retrain
from recloop.errors import UnusableInputError
from recloop.loop.provenance import monitor_drift_run
from recloop.notify import AlertOutcome, NextStep, notify_drift
from recloop.registry import ModelVersionInfo, get_champion
from recloop.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class MonitorOutcome:
    """Everything one monitoring pass produced."""

    result: DriftResult
    decision: TriggerDecision
    alert: AlertOutcome | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = self.result.to_dict()
        payload["should_retrain"] = self.decision.should_retrain
        payload["reasons"] = list(self.decision.reasons)
        payload["trigger_checks"] = self.decision.checks
        if self.alert is not None:
            payload["alert"] = {
                "sent": self.alert.sent,
                "suppressed": self.alert.suppressed,
                "reason": self.alert.reason,
            }
        return payload


def parse_window(text: str) -> Window:
    """``START..END`` (ISO dates or date-times, UTC, END exclusive) to Unix seconds.

    Raises:
        UnusableInputError: malformed text, or END not after START.
    """
    parts = text.split("..")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise UnusableInputError(f"window {text!r} is not START..END (e.g. 1997-09-20..1997-11-29)")
    start, end = (_parse_instant(p.strip(), text) for p in parts)
    if end <= start:
        raise UnusableInputError(f"window {text!r} ends before it starts")
    return start, end


def _parse_instant(value: str, whole: str) -> int:
    try:
        return int(parse_instant(value))
    except ValueError:
        raise UnusableInputError(f"window {whole!r}: {value!r} is not an ISO date") from None


def check_store(
    settings: Settings,
    reference: Window | None = None,
    current: Window | None = None,
    *,
    notify: bool = True,
    save_report: bool = True,
) -> MonitorOutcome:
    """Drift of the store's current window against the reference, the retrain decision, the alert.

    Defaults: the current window is the last ``drift.current_window_days`` days of events;
    the reference is the champion's training window (model version tags), or every event
    before the current window when there is no champion.

    Raises:
        UnusableInputError: a window is empty.
    """
    champion = get_champion(settings)
    reference, current, ref_events, cur_events = _windows(settings, champion, reference, current)
    checked = champion.version if champion else None
    run = monitor_drift_run(settings, current, checked) if save_report else nullcontext()
    with run:  # the report goes to the drift experiment, like a loop step's
        result = run_drift_check(
            settings,
            ref_events,
            cur_events,
            load_items(settings),
            champion=champion,
            reference_window=reference,
            current_window=current,
            save_report=save_report,
        )
    new_events = None
    if champion is not None and champion.window_end is not None:
        new_events = len(load_events(settings, champion.window_end, None))
    decision = decide_retrain(
        settings,
        drift=result,
        has_champion=champion is not None,
        champion_window_end=champion.window_end if champion else None,
        data_end=current[1],
        new_events=new_events,
    )
    alert = None
    if notify:  # without Prefect (``recloop drift``): no trigger to name, the loop's next run
        step = NextStep(
            "retrain at the continual loop's next run"
            if decision.should_retrain
            else "nothing; the trigger policy found no reason to retrain"
        )
        alert = notify_drift(settings, result, decision, next_step=step)
    return MonitorOutcome(result=result, decision=decision, alert=alert)


def _windows(
    settings: Settings,
    champion: ModelVersionInfo | None,
    reference: tuple[int | None, int] | None,
    current: Window | None,
) -> tuple[Window, Window, pd.DataFrame, pd.DataFrame]:
    """Both windows (defaults filled in, see :func:`check_store`) and their events."""
    all_events = None
    if current is None:
        all_events = load_events(settings)
        if all_events.empty:
            raise UnusableInputError("the event store is empty; ingest events first")
        end = int(all_events["timestamp"].max()) + 1
        current = (end - settings.drift.current_window_days * SECONDS_PER_DAY, end)
    if reference is None:
        has_window = (
            champion is not None
            and champion.window_start is not None
            and champion.window_end is not None
        )
        reference = (
            (champion.window_start, champion.window_end) if has_window else (None, current[0])
        )
    ref_events = _slice_or_load(settings, all_events, reference)
    cur_events = _slice_or_load(settings, all_events, current)
    if cur_events.empty:
        raise UnusableInputError(f"the current window {_fmt(current)} has no events")
    if ref_events.empty:
        raise UnusableInputError(f"the reference window {_fmt(reference)} has no events")
    start = reference[0] if reference[0] is not None else int(ref_events["timestamp"].min())
    return (start, reference[1]), current, ref_events, cur_events


def _slice_or_load(
    settings: Settings, all_events: pd.DataFrame | None, window: tuple[int | None, int]
) -> pd.DataFrame:
    """Events of ``[start, end)`` from the already loaded frame, or from the store."""
    start, end = window
    if all_events is None:
        return load_events(settings, start, end)
    ts = all_events["timestamp"]
    mask = ts < end if start is None else (ts >= start) & (ts < end)
    return all_events.loc[mask].reset_index(drop=True)


def _fmt(window: tuple[int | None, int]) -> str:
    start = "-" if window[0] is None else iso_date(window[0])
    return f"{start}..{iso_date(window[1])}"
