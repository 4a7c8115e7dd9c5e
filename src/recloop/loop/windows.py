"""Cut a time-ordered event log into the replay's base period and windows.

Pure functions on the log's timestamps, sorted stably (ties keep file order): every
window is a half-open time span ``[start, end)`` and the slice ``[lo, hi)`` of positions in
that order, so a caller takes ``events.iloc[lo:hi]`` of the same sorted frame.

Two kinds of window:

* **by time** (``--every 7d``, ``12h``, ``30d``): consecutive spans of one period from the
  end of the base period, the last clipped to one past the newest event. A span may hold no
  event (a quiet week); it is still a window, so the accounting stays exact.
* **by count** (``--every 50000``): consecutive slices of N events. Events with equal
  timestamps are never split across windows: when the N-th event of a window ties with the
  events after it, the window keeps them all (ties at a boundary go to the *earlier*
  window). So a count window holds N events, more where a tie forces it, and the last one
  holds what is left.

The default (``--every auto``, ``default_plan``) is derived from the log itself, the same
rule for every data set (MovieLens, Amazon Beauty or a user's log):

1. **Steps**: the replay trains a model from scratch on (nearly) the whole log at every
   step (the full-retrain arm), so its cost grows with steps x events. The number of steps
   is ``step_budget_events // events``, kept within ``[MIN_STEPS, max_steps]``:
   MovieLens-100k (100k events) gets 10, Amazon Beauty (198k) 5, MovieLens-1M (1M) 3.
2. **Base period**: the initial model learns the events before the point where
   ``base_fraction`` (70%) of the log has arrived; the rest is replayed.
3. **Kind**: weekly windows (how an operator schedules the loop) when the first ``steps``
   weeks after the base period hold at least ``WEEKLY_COVERAGE`` (90%) of the replayed
   events; the base then ends at the last whole week before the 70% point. Otherwise (a log
   whose events arrive unevenly: MovieLens-1M's thin two-year tail, Beauty's twelve years)
   weeks would leave most of the replay out or hold a handful of events, so the replayed
   part is cut into ``steps`` count windows of equal size.

Asking for a number of steps (``--steps``) keeps the rule's kind and size of window and
replays that many. A base period in weeks (``--bootstrap-weeks``) replaces rule 2 and, with
no ``--every``, means weekly windows (the replay's form before count windows existed).

On MovieLens-100k the rule gives the replay it always had: a 20-week base and ten weekly
windows (the first ten weeks after the base hold 96% of the rest).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from recloop.errors import UnusableInputError

WEEK_SECONDS = 7 * 86_400
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": WEEK_SECONDS}
MIN_STEPS = 3  # fewer replayed windows say little about the loop over time
WEEKLY_COVERAGE = 0.9  # share of the replayed events the weekly windows must hold


@dataclass(frozen=True)
class Every:
    """How the log is cut: a period in seconds, or a number of events per window."""

    text: str
    seconds: int | None = None
    events: int | None = None

    @property
    def by_time(self) -> bool:
        return self.seconds is not None


def parse_every(text: str) -> Every | None:
    """``"7d"`` -> a 7-day period, ``"50000"`` -> 50,000 events, ``"auto"`` -> None.

    Raises:
        UnusableInputError: anything else (units s, m, h, d, w; counts and periods > 0).
    """
    clean = text.strip().lower()
    if clean == "auto":
        return None
    match = re.fullmatch(r"(\d+)\s*([smhdw]?)", clean)
    if match is None or int(match.group(1)) == 0:
        raise UnusableInputError(
            f"bad --every {text!r}: give a period such as 7d, 12h or 30d, "
            "a number of events such as 50000, or auto"
        )
    number, unit = int(match.group(1)), match.group(2)
    if unit:
        return Every(clean, seconds=number * UNITS[unit])
    return Every(clean, events=number)


@dataclass(frozen=True)
class Window:
    """One replayed window: Unix seconds ``[start, end)`` and sorted positions ``[lo, hi)``."""

    start: int
    end: int
    lo: int
    hi: int

    @property
    def events(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True)
class ReplayPlan:
    """The base period (every event before ``cut``) and the windows replayed after it."""

    every: Every
    cut: int
    base_events: int
    windows: list[Window]


def _check_sorted(times: np.ndarray) -> np.ndarray:
    times = np.asarray(times, dtype=np.int64)
    if len(times) > 1 and bool(np.any(np.diff(times) < 0)):
        raise ValueError("timestamps must be sorted (stably, by time)")
    return times


def time_windows(
    times: np.ndarray, cut: int, seconds: int, limit: int | None = None
) -> list[Window]:
    """Windows ``[cut + k*seconds, cut + (k+1)*seconds)`` up to the newest event.

    Args:
        times: sorted timestamps.
        cut: end of the base period (its events are not in any window).
        seconds: the period.
        limit: at most this many windows (None: until the newest event).
    """
    times = _check_sorted(times)
    if seconds <= 0:
        raise ValueError("the period must be positive")
    if len(times) == 0 or int(times[-1]) < cut:
        return []
    last = int(times[-1]) + 1
    count = math.ceil((last - cut) / seconds)
    if limit is not None:
        count = min(count, limit)
    windows = []
    for k in range(count):
        start, end = cut + k * seconds, min(cut + (k + 1) * seconds, last)
        lo, hi = np.searchsorted(times, [start, end], side="left")
        windows.append(Window(start, end, int(lo), int(hi)))
    return windows


def count_windows(times: np.ndarray, cut: int, size: int, limit: int | None = None) -> list[Window]:
    """Consecutive windows of ``size`` events from ``cut``, never splitting a timestamp.

    Args:
        times: sorted timestamps.
        cut: end of the base period; the first window starts there.
        size: events per window; a window ending inside a run of equal timestamps takes the
            rest of the run (ties go to the earlier window).
        limit: at most this many windows (None: until the newest event).
    """
    times = _check_sorted(times)
    if size <= 0:
        raise ValueError("the window size must be positive")
    n = len(times)
    lo = int(np.searchsorted(times, cut, side="left"))
    start = cut
    windows: list[Window] = []
    while lo < n and (limit is None or len(windows) < limit):
        last_time = times[min(lo + size, n) - 1]
        hi = int(np.searchsorted(times, last_time, side="right"))
        end = int(times[hi]) if hi < n else int(times[-1]) + 1
        windows.append(Window(int(start), end, lo, hi))
        lo, start = hi, end
    return windows


def default_steps(n_events: int, max_steps: int, step_budget_events: int) -> int:
    """Replayed windows for a log of ``n_events`` (see the module docstring, rule 1)."""
    return max(1, min(max_steps, max(MIN_STEPS, step_budget_events // max(n_events, 1))))


def fraction_point(times: np.ndarray, fraction: float) -> int:
    """The timestamp by which ``fraction`` of the log has arrived (rule 2)."""
    times = _check_sorted(times)
    position = min(max(math.ceil(fraction * len(times)), 1), len(times) - 1)
    return int(times[position])


def plan_replay(
    times: np.ndarray,
    every: Every | None,
    *,
    base_fraction: float,
    max_steps: int,
    step_budget_events: int,
    base_weeks: int | None = None,
    steps: int | None = None,
) -> ReplayPlan:
    """The base period and windows of a replay.

    Args:
        times: the log's timestamps, sorted stably.
        every: the windows' period or size; None: the default rule (module docstring).
        base_fraction: share of the log the initial model learns (when ``base_weeks`` is None).
        max_steps, step_budget_events: bound the default number of windows (rule 1).
        base_weeks: the base period in weeks from the first event, instead of the fraction.
        steps: windows replayed, instead of the default number (with ``every`` None, the
            rule still decides the windows' kind and size).

    Raises:
        UnusableInputError: fewer than two events, or no event after the base period.
    """
    times = _check_sorted(times)
    if len(times) < 2:
        raise UnusableInputError("the log needs at least two events to replay")
    rule_steps = default_steps(len(times), max_steps, step_budget_events)
    n_steps = steps or rule_steps
    first = int(times[0])
    point = fraction_point(times, base_fraction)

    def period_cut(seconds: int) -> int:
        if base_weeks is not None:
            return first + base_weeks * WEEK_SECONDS
        return first + max(1, (point - first) // seconds) * seconds

    if every is None and base_weeks is not None:
        every = Every("7d", seconds=WEEK_SECONDS)  # a base in weeks: weekly windows, as ever
    if every is None:
        cut = period_cut(WEEK_SECONDS)
        # The kind follows from the log and the rule's steps alone, so that asking for
        # fewer steps (a shorter replay) keeps the windows' kind and size.
        weekly = time_windows(times, cut, WEEK_SECONDS, rule_steps)
        replayed = len(times) - int(np.searchsorted(times, cut, side="left"))
        if replayed and sum(w.events for w in weekly) >= WEEKLY_COVERAGE * replayed:
            weekly = time_windows(times, cut, WEEK_SECONDS, n_steps)
            return _plan(Every("7d", seconds=WEEK_SECONDS), cut, times, weekly, base_weeks)
        cut = first + base_weeks * WEEK_SECONDS if base_weeks is not None else point
        rest = len(times) - int(np.searchsorted(times, cut, side="left"))
        size = max(1, math.ceil(rest / rule_steps))
        every = Every(str(size), events=size)
        return _plan(every, cut, times, count_windows(times, cut, size, n_steps), base_weeks)
    if every.seconds is not None:
        cut = period_cut(every.seconds)
        return _plan(
            every, cut, times, time_windows(times, cut, every.seconds, n_steps), base_weeks
        )
    assert every.events is not None
    cut = first + base_weeks * WEEK_SECONDS if base_weeks is not None else point
    return _plan(every, cut, times, count_windows(times, cut, every.events, n_steps), base_weeks)


def _plan(
    every: Every, cut: int, times: np.ndarray, windows: list[Window], base_weeks: int | None
) -> ReplayPlan:
    base_events = int(np.searchsorted(times, cut, side="left"))
    if not any(w.events for w in windows):
        base = f"{base_weeks}-week bootstrap" if base_weeks is not None else "base"
        raise UnusableInputError(f"no events after the {base} period: use fewer weeks")
    if base_events == 0:
        raise UnusableInputError("no events before the first window: the base period is empty")
    return ReplayPlan(every, cut, base_events, windows)
