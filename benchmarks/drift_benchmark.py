"""Drift detection on real data: natural alarm rate, detection per injected shift, speed.

For every full week of MovieLens-100k after the first ``--warmup`` weeks, the week is checked
against all earlier events (the "no champion" default) as it is (clean) and with each
injected shift of ``recloop.drift.shifts``. A popularity scorer fitted on the reference
stands in for the champion, so the model-signal features are tested too. Then one check
runs on a 100,000-event current window (all MovieLens ratings, ratings inflated) against
the whole data set, with and without the HTML report.

    .venv/bin/python benchmarks/drift_benchmark.py [--warmup 4] [--policy FILE] [--no-model]

Prints the clean-window alarm rate, the detection rate per shift, the features that fired,
and seconds per check.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from recloop.data.readers import read_movielens_canonical
from recloop.drift import run_drift_check
from recloop.drift.shifts import SHIFTS, rating_inflation
from recloop.evaluation.baselines import PopularityScorer
from recloop.settings import Settings

WEEK = 7 * 86_400
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "movielens-100k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--warmup", type=int, default=4, help="Weeks used only as reference.")
    parser.add_argument("--policy", type=Path, default=None, help="Drift policy file to test.")
    parser.add_argument("--no-model", action="store_true", help="Skip the model-signal features.")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    data = read_movielens_canonical(args.data)
    events, items = data.events, data.items
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="drift-bench-")))
    settings.drift.log_to_mlflow = False
    if args.policy:
        settings.drift.policy_file = args.policy
    first = int(events["timestamp"].min())
    n_weeks = (int(events["timestamp"].max()) - first) // WEEK
    alarms: dict[str, list[bool]] = {name: [] for name in ["clean", *SHIFTS]}
    fired: dict[str, Counter] = {name: Counter() for name in alarms}
    seconds = []
    for week in range(args.warmup, n_weeks):
        start = first + week * WEEK
        reference = events[events["timestamp"] < start]
        current = events[(events["timestamp"] >= start) & (events["timestamp"] < start + WEEK)]
        scorer = None if args.no_model else PopularityScorer(reference, items["item_id"].to_numpy())
        variants = {"clean": (current, items)}
        for name, shift in SHIFTS.items():
            variants[name] = shift(current, items, np.random.default_rng(week))
        for name, (cur, cat) in variants.items():
            started = time.perf_counter()
            result = run_drift_check(
                settings,
                reference,
                cur,
                cat,
                scorer=scorer,
                reference_window=(first, start),
                current_window=(start, start + WEEK),
                save_report=False,
            )
            seconds.append(time.perf_counter() - started)
            alarms[name].append(result.drift_detected)
            if name == "clean":
                fired_now = result.drifted_features
            fired[name].update(result.drifted_features)
        print(
            f"week {week:2d} ({len(current):5d} events): "
            f"clean {'ALARM' if alarms['clean'][-1] else 'ok'} {fired_now}",
            flush=True,
        )
    print()
    print(
        f"weekly windows checked: {len(alarms['clean'])}  "
        f"(median {np.median(seconds):.2f} s per check)"
    )
    print(
        f"clean-window alarm rate: {np.mean(alarms['clean']):.1%}   "
        f"fired: {dict(fired['clean'].most_common(5))}"
    )
    for name in SHIFTS:
        print(
            f"detected {name:20s} {np.mean(alarms[name]):6.1%}   "
            f"fired: {dict(fired[name].most_common(4))}"
        )
    _time_large_window(settings, events, items, args.no_model)


def _time_large_window(settings: Settings, events, items, no_model: bool) -> None:
    """Seconds for one check whose current window holds 100,000 events."""
    current, _ = rating_inflation(events, items, np.random.default_rng(0))
    span = (int(events["timestamp"].min()), int(events["timestamp"].max()) + 1)
    scorer = None if no_model else PopularityScorer(events, items["item_id"].to_numpy())
    for save in (False, True):
        started = time.perf_counter()
        result = run_drift_check(
            settings,
            events,
            current,
            items,
            scorer=scorer,
            reference_window=span,
            current_window=span,
            save_report=save,
        )
        label = "with HTML/JSON report" if save else "statistics only"
        print(
            f"100,000-event window ({label}): {time.perf_counter() - started:.2f} s, "
            f"drift={result.drift_detected} {result.drifted_features[:4]}"
        )


if __name__ == "__main__":
    main()
