"""Training benchmarks of the recommender on MovieLens-100k (prints figures; run on demand).

    .venv/bin/python benchmarks/train_benchmark.py loo          # LOO quality, frozen encoder
    .venv/bin/python benchmarks/train_benchmark.py throughput   # sequences/s per encoder mode
    .venv/bin/python benchmarks/train_benchmark.py incremental  # new weeks: incremental vs full
    BENCH_BASE_WEEKS=20 .venv/bin/python benchmarks/train_benchmark.py incremental  # one week
    BENCH_BASE_WEEKS=12 .venv/bin/python benchmarks/train_benchmark.py cold  # new items, week 13
Settings come from the environment like everywhere (``RECLOOP_TRAIN__EPOCHS=5`` ...).
Timings are wall clock on whatever the machine is doing; on a shared machine they are
upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
MOVIELENS = Path(
    os.environ.get("RECLOOP_TEST_MOVIELENS_DIR", REPO.parent / "shared/datasets/movielens-100k")
)
WEEK = 7 * 24 * 3600


def _data():
    from recloop.data.readers import read_movielens_canonical

    return read_movielens_canonical(MOVIELENS)


def _settings(workdir: Path, **train):
    from recloop.settings import Settings

    cache = os.environ.get("RECLOOP_CACHE_DIR", str(REPO / ".recloop" / "cache"))
    return Settings(home=workdir, cache_dir=cache, train={"device": "cpu", **train})


def _evaluate(model_dir: Path, cases, items, train_events) -> dict[str, float]:
    from recloop.evaluation.harness import evaluate_scorer
    from recloop.serving import load_recommender

    rec = load_recommender(str(model_dir))
    result = evaluate_scorer(
        rec,
        cases,
        k=10,
        items=items,
        item_embeddings=rec.item_text_embeddings,
        popularity=train_events,
    )
    return result.metrics


def bench_loo(workdir: Path) -> dict:
    """Leave-one-out (RecBole LS/TO/full protocol): train on train, stop on valid, test."""
    from recloop.evaluation.protocols import leave_one_out, loo_cases
    from recloop.training.trainer import train_recommender

    data = _data()
    split = leave_one_out(data.events)
    settings = _settings(workdir)
    result = train_recommender(
        settings,
        split.train,
        data.items,
        valid_events=split.valid,
        out_dir=workdir / "loo",
        show_progress=True,
    )
    seen = pd.concat([split.train, split.valid])
    metrics = _evaluate(result.model_dir, loo_cases(split, "test"), data.items, seen)
    return {
        "protocol": "loo-test",
        "train_seconds": round(result.train_seconds, 1),
        "epochs": result.epochs,
        "best_valid": result.metrics,
        "settings": settings.train.model_dump(),
        "test": metrics,
    }


def bench_throughput(workdir: Path, steps: int = 2) -> dict:
    """Training sequences per second for each encoder mode (CPU, small batch for lora/full)."""
    import torch

    from recloop.evaluation.protocols import leave_one_out
    from recloop.training.loop import EpochPermutation  # noqa: F401  (same loop pieces)
    from recloop.training.objective import NextItemObjective
    from recloop.training.setup import build_run

    data = _data()
    split = leave_one_out(data.events)
    out = {}
    for mode, batch in (("frozen", 64), ("lora", 8), ("full", 8)):
        settings = _settings(workdir, encoder_mode=mode, batch_size=batch)
        run = build_run(
            settings,
            split.train,
            data.items,
            init_from=None,
            replay_events=None,
            valid_events=split.valid,
            out_dir=workdir / f"tp-{mode}",
        )
        objective = NextItemObjective(run.net, run.text_encoder)
        params = [p for p in objective.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        w = run.windows
        tensors = [
            torch.from_numpy(a[:batch]) for a in (w.inputs, w.targets, w.weights, w.scenarios)
        ]
        loss = objective(*tensors)
        loss.backward()
        opt.step()
        started = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            objective(*tensors).backward()
            opt.step()
        seconds = (time.perf_counter() - started) / steps
        out[mode] = {
            "batch": batch,
            "seconds_per_step": round(seconds, 3),
            "sequences_per_s": round(batch / seconds, 2),
            "trainable_params": sum(p.numel() for p in params),
        }
        print(mode, out[mode], file=sys.stderr)
    return out


def bench_incremental(workdir: Path) -> dict:
    """One new week: incremental fine-tune of the model up to T vs a full retrain up to T+1w.

    Both are scored on the week after (next-window protocol), next to the model up to T
    that nobody updated; the cold-start slice holds the test events whose item had no event
    before T+1w. ``BENCH_BASE_WEEKS`` lists the values of T in weeks (default
    ``12,13,20,27``: the experiment is repeated on each and pooled, with a bootstrap
    interval on the pooled ratio). One test week holds 2-3k cases, so its NDCG@10 carries a
    standard error of about 5%, as large as the effect measured: a single week (``20``)
    says little on its own.
    """
    from recloop.evaluation.significance import interval, stratified_bootstrap

    weeks_list = [int(w) for w in os.environ.get("BENCH_BASE_WEEKS", "12,13,20,27").split(",")]
    data = _data()
    events = data.events.sort_values("timestamp", kind="stable")
    reports, sums, counts = [], {"incremental": [], "full": [], "not_updated": []}, []
    for weeks in weeks_list:
        report, week_sums, week_counts = _incremental_week(
            workdir / f"week-{weeks}", data, events, weeks
        )
        reports.append(report)
        counts.append(week_counts)
        for arm in sums:
            sums[arm].append(week_sums[arm])
    if len(reports) == 1:
        return reports[0]
    draws, points = stratified_bootstrap(sums, counts, samples=1000, seed=0)
    ratio = draws["incremental"] / np.maximum(draws["full"], 1e-12)
    low, high = interval(ratio)
    seconds = {arm: sum(r[f"{arm}_seconds"] for r in reports) for arm in ("incremental", "full")}
    return {
        "weeks": reports,
        "pooled": {
            "base_weeks": weeks_list,
            "mean_ndcg@10": {arm: round(points[arm], 4) for arm in sums},
            "ndcg_ratio": round(points["incremental"] / max(points["full"], 1e-12), 3),
            "ndcg_ratio_95ci": [round(low, 3), round(high, 3)],
            "time_ratio": round(seconds["incremental"] / seconds["full"], 3),
        },
    }


def _incremental_week(workdir: Path, data, events: pd.DataFrame, weeks: int):
    """One run of the incremental benchmark with T = ``weeks``: (report, per-user NDCG@10
    sums per arm, per-user case counts), the last two for the pooled bootstrap."""
    from recloop.evaluation.harness import evaluate_scorer
    from recloop.evaluation.protocols import next_window_cases
    from recloop.serving import load_recommender
    from recloop.training.trainer import train_recommender

    start = int(events.timestamp.min())
    t0, t1 = start + weeks * WEEK, start + (weeks + 1) * WEEK
    old, new = (
        events[events.timestamp < t0],
        events[(events.timestamp >= t0) & (events.timestamp < t1)],
    )
    settings = _settings(workdir)
    base = train_recommender(
        settings, old, data.items, out_dir=workdir / "base", show_progress=True
    )
    inc = train_recommender(
        settings,
        new,
        data.items,
        init_from=str(base.model_dir),
        replay_events=old,
        out_dir=workdir / "inc",
        show_progress=True,
    )
    full = train_recommender(
        settings, pd.concat([old, new]), data.items, out_dir=workdir / "full", show_progress=True
    )
    cases = next_window_cases(events[events.timestamp < t1 + WEEK], t1 - 1, WEEK)
    report = {
        "base_weeks": weeks,
        "new_week_events": len(new),
        "test_cases": len(cases),
        "incremental_seconds": round(inc.train_seconds, 1),
        "full_seconds": round(full.train_seconds, 1),
    }
    seen = events[events.timestamp < t1]
    sums, counts = {}, None
    for name, res in (("incremental", inc), ("full", full), ("not_updated", base)):
        rec = load_recommender(str(res.model_dir))
        result = evaluate_scorer(rec, cases, k=10, items=data.items, popularity=seen)
        report[name] = {k: result.metrics[k] for k in ("ndcg@10", "recall@10")}
        per_user = result.per_user.groupby("user_id")["ndcg@10"]
        sums[name] = per_user.sum().sort_index().to_numpy(dtype=float)
        counts = per_user.size().sort_index().to_numpy(dtype=float)
        if name != "not_updated" and cases.cold_items is not None and cases.cold_items.any():
            cold = cases.subset(cases.cold_items)
            cm = evaluate_scorer(rec, cold, k=10, items=data.items, popularity=seen).metrics
            report[name]["cold_recall@10"] = cm["recall@10"]
            report["cold_cases"] = int(cases.cold_items.sum())
    report["ndcg_ratio"] = round(
        report["incremental"]["ndcg@10"] / max(report["full"]["ndcg@10"], 1e-12), 3
    )
    report["time_ratio"] = round(inc.train_seconds / full.train_seconds, 3)
    return report, sums, counts


def bench_cold(workdir: Path) -> dict:
    """Cold start: train on events before T+1w, score the next week; the cold slice holds
    the test events whose item had no event before (popularity scores exactly 0 there).
    Scored twice: with the new-arrival bonus the model chose on its validation cases, and
    with no bonus. ``BENCH_BASE_WEEKS`` (default 20) sets T; weeks 12, 13, 20 and 27 hold
    the most first-week ratings of new releases."""
    from recloop.columns import ITEM_COL
    from recloop.evaluation.baselines import build_baseline
    from recloop.evaluation.harness import evaluate_scorer
    from recloop.evaluation.protocols import next_window_cases
    from recloop.serving import load_recommender
    from recloop.training.trainer import train_recommender

    data = _data()
    events = data.events.sort_values("timestamp", kind="stable")
    weeks = int(os.environ.get("BENCH_BASE_WEEKS", "20"))
    t1 = int(events.timestamp.min()) + (weeks + 1) * WEEK
    seen = events[events.timestamp < t1]
    settings = _settings(workdir)
    result = train_recommender(
        settings, seen, data.items, out_dir=workdir / "cold", show_progress=True
    )
    cases = next_window_cases(events[events.timestamp < t1 + WEEK], t1 - 1, WEEK)
    cold_cases = cases.subset(cases.cold_items)
    rec = load_recommender(str(result.model_dir))
    report: dict = {
        "base_weeks": weeks,
        "train_seconds": round(result.train_seconds, 1),
        "epochs": result.epochs,
        "cases": len(cases),
        "cold_cases": len(cold_cases),
        "new_item_boost": rec.new_items.boost,
        "validation_ndcg_by_boost": rec.new_items.validation_ndcg,
    }
    for name in ("pop", "random"):  # the baselines, for scale
        baseline = build_baseline(name, seen, data.items[ITEM_COL].to_numpy())
        overall = evaluate_scorer(baseline, cases, k=10, items=data.items, popularity=seen)
        cold = evaluate_scorer(baseline, cold_cases, k=10, items=data.items, popularity=seen)
        report[name] = {
            "recall@10": overall.metrics["recall@10"],
            "cold_recall@10": cold.metrics["recall@10"],
        }
    chosen = rec.new_items.boost
    tried = [float(b) for b in (rec.new_items.validation_ndcg or {})]
    for label, boost in [("chosen_boost", chosen), ("no_boost", 0.0)] + [
        (f"boost_{b:g}", b) for b in tried
    ]:
        rec.new_items.boost = boost
        overall = evaluate_scorer(rec, cases, k=10, items=data.items, popularity=seen).metrics
        cold = evaluate_scorer(rec, cold_cases, k=10, items=data.items, popularity=seen)
        report[label] = {
            "ndcg@10": overall["ndcg@10"],
            "recall@10": overall["recall@10"],
            "cold_recall@10": cold.metrics["recall@10"],
            "cold_hits": round(cold.metrics["recall@10"] * len(cold_cases)),
            "cold_ndcg@10": cold.metrics["ndcg@10"],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["loo", "throughput", "incremental", "cold"])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"recloop-bench-{args.what}-"))
    benches = {
        "loo": bench_loo,
        "throughput": bench_throughput,
        "incremental": bench_incremental,
        "cold": bench_cold,
    }
    bench = benches[args.what]
    result = bench(workdir)
    print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
