"""What sampling costs drift detection: a 1M-event window against a 5M-event reference.

recloop's drift check samples each feature table down to ``drift.max_rows`` rows (default
200,000) before the statistical tests (``drift.detect._sample``: a uniform sample without
replacement, the same seed for reference and current). This script measures what that
costs, on MovieLens-1M grown to reference + current events (``resample.grown_log``) and
re-timed to a steady rate, so the current window is the 1M events that follow the 5M:

1. **Time**: one ``run_drift_check`` as the loop runs it (features, tests, verdict; no
   report, then with the Evidently HTML report), sampled and unsampled.
2. **Detection power**: each injected shift of ``recloop.drift.shifts`` applied to the
   current window at a range of strengths (share of events changed), tested on the full
   tables and on ``--seeds`` independent samples. Printed: whether the full tables
   detect it, the share of sampled checks that agree, and the distance of the shifted
   feature (full, and the sampled mean +- standard deviation) against its threshold.
   The distances are Wasserstein / Jensen-Shannon (the policy's), whose sampling error at
   n rows shrinks like 1/sqrt(n): what sampling can change is only a verdict whose
   distance sits within a few standard deviations of the threshold.

    .venv/bin/python benchmarks/drift_sampling.py                       # 5M + 1M, 10 seeds
    .venv/bin/python benchmarks/drift_sampling.py --reference 500000 --current 100000 --seeds 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from resample import grown_log, uniform_time  # benchmarks/, beside this script

os.environ.setdefault("HF_HUB_OFFLINE", "1")

UNSAMPLED = 10**12  # a max_rows no table reaches
SHIFTED_FEATURE = {  # the feature each injected shift is meant to move
    "category_mix": "categories.category",
    "popularity_collapse": "events.item_pop_rank",
    "new_item_flood": "events.item_is_new",
}


def _tables(settings, window: pd.DataFrame, reference, current, items):
    """``window``'s feature tables as ``run_drift_check`` computes them: first-seen dates
    over both windows of the check, chunks cut back from the window's end."""
    from recloop.drift.features import item_first_seen, window_features

    options = _options(settings)
    both = pd.concat([reference[["item_id", "timestamp"]], current[["item_id", "timestamp"]]])
    first_seen = item_first_seen(both, items, options.chunk_seconds)
    return window_features(window, items, _end(window), first_seen, options)


def _options(settings):
    from recloop.drift.features import FeatureOptions

    return FeatureOptions(chunk_seconds=86_400 * settings.drift.current_window_days)


def _end(window: pd.DataFrame) -> int:
    return int(window["timestamp"].max()) + 1


def _check(ref, cur, policy, max_rows: int, seed: int):
    """(detected, {feature: distance}) of one comparison without the report."""
    from recloop.drift.detect import compare_windows, decide

    stats, _, _ = compare_windows(ref, cur, policy, max_rows, seed, with_report=False)
    _, _, detected = decide(stats, policy)
    return detected, {s.feature: s.score for s in stats if s.score is not None}


def timing(settings, reference, current, items) -> None:
    from recloop.drift import run_drift_check

    # Warm-up (imports, Evidently's first report) on a slice, not timed.
    run_drift_check(settings, reference.iloc[-50_000:], current.iloc[:20_000], items)
    print("\n| check (1 window vs reference) | max_rows | report | seconds | detected |")
    print("| --- | --- | --- | --- | --- |")
    for max_rows, report in (
        (settings.drift.max_rows, False),
        (UNSAMPLED, False),
        (settings.drift.max_rows, True),
    ):
        run_settings = settings.model_copy(
            update={"drift": settings.drift.model_copy(update={"max_rows": max_rows})}
        )
        started = time.perf_counter()
        result = run_drift_check(run_settings, reference, current, items, save_report=report)
        seconds = time.perf_counter() - started
        shown = "all" if max_rows == UNSAMPLED else f"{max_rows:,}"
        print(
            f"| {len(current):,} vs {len(reference):,} events | {shown} | "
            f"{'HTML' if report else 'no'} | {seconds:.1f} | {result.drift_detected} |",
            flush=True,
        )


def power(settings, reference, current, items, fractions, seeds: int) -> None:
    from recloop.drift.policy import load_policy
    from recloop.drift.shifts import SHIFTS

    policy = load_policy(settings.drift.policy_file)
    max_rows = settings.drift.max_rows
    print(
        f"\n| shift | share changed | feature | threshold | distance (all rows) | "
        f"distance ({max_rows:,}-row samples, mean +- sd) | detected (all rows) | "
        f"sampled checks agreeing |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    # The reference's tables do not depend on the shift (its items were first seen in it;
    # the shifts only move current events), so they are computed once.
    ref = _tables(settings, reference, reference, current, items)
    cases = [("none", 0.0)] + [(s, f) for s in SHIFTED_FEATURE for f in fractions]
    for shift, fraction in cases:
        rng = np.random.default_rng(0)
        shifted, catalog = current, items
        if shift != "none":
            shifted, catalog = SHIFTS[shift](current, items, rng, fraction=fraction)
        cur = _tables(settings, shifted, reference, shifted, catalog)
        full_detected, full = _check(ref, cur, policy, UNSAMPLED, 0)
        runs = [_check(ref, cur, policy, max_rows, seed) for seed in range(seeds)]
        feature = SHIFTED_FEATURE.get(shift) or _closest_alarm(policy, full)
        sampled = np.array([scores.get(feature, np.nan) for _, scores in runs])
        agree = sum(detected == full_detected for detected, _ in runs)
        rule = policy.rule_for(feature, _kind(feature))
        print(
            f"| {shift} | {fraction:.0%} | {feature} | {rule.threshold} | "
            f"{full.get(feature, float('nan')):.4f} | {np.nanmean(sampled):.4f} +- "
            f"{np.nanstd(sampled):.4f} | {full_detected} | {agree}/{seeds} |",
            flush=True,
        )


def _closest_alarm(policy, scores: dict[str, float]) -> str:
    """The alarm feature whose distance is nearest its threshold (the first to flip)."""
    rules = {f: policy.rule_for(f, _kind(f)) for f in scores}
    alarms = [f for f in scores if rules[f].alarm and not rules[f].is_pvalue]
    return max(alarms, key=lambda f: scores[f] / rules[f].threshold)


def _kind(feature: str) -> str:
    from recloop.drift.features import FEATURE_KINDS

    table, column = feature.split(".", 1)
    return FEATURE_KINDS[table][column]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=5_000_000)
    parser.add_argument("--current", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--per-day", type=int, default=13_700)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.03, 0.1])
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-power", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from recloop.settings import Settings

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        settings.drift.log_to_mlflow = False
        started = time.perf_counter()
        events, items = grown_log(args.reference + args.current, new_item_share=0.3)
        events = uniform_time(events, args.per_day).assign(scenario=None)  # canonical columns
        reference = events.iloc[: args.reference].reset_index(drop=True)
        current = events.iloc[args.reference : args.reference + args.current].reset_index(drop=True)
        print(
            f"log: {len(reference):,} reference + {len(current):,} current events, "
            f"{len(items):,} items, built in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if not args.skip_timing:
            timing(settings, reference, current, items)
        if not args.skip_power:
            power(settings, reference, current, items, args.fractions, args.seeds)


if __name__ == "__main__":
    main()
