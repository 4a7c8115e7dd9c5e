"""Quality against the field: recloop on every shared dataset with one set of defaults.

    .venv/bin/python benchmarks/quality_benchmark.py                      # every dataset, hybrid
    .venv/bin/python benchmarks/quality_benchmark.py --arms hybrid text id   # the ablation
    .venv/bin/python benchmarks/quality_benchmark.py --datasets amazon-beauty --cold-start
    .venv/bin/python benchmarks/quality_benchmark.py --eval-speed amazon-beauty=DIR/model \
        --eval-speed movielens-1m=DIR2/model           # evaluation speed of trained models

Each run (dataset x item-tower arm x protocol) trains in a child process of its own, so its
peak memory (``ru_maxrss``) is its own, with the defaults of ``recloop.settings`` except
``train.max_len=auto`` (the user tower's length derived from each data set by one documented
rule, ``recloop.training.lengths``; ``RECLOOP_TRAIN__MAX_LEN=50`` gives the plain default). The
environment applies as everywhere: ``RECLOOP_TRAIN__EPOCHS=5`` caps a quick look. Arms:

- ``hybrid``: the default item tower, projected text embedding + item-id embedding;
- ``text``: text only (``train.hybrid=false``): every item, seen or not, is its text;
- ``id``: id only (``train.use_text=false``): the usual sequential recommender.

Protocols: ``loo`` is the field's leave-one-out (each user's last event is the test, the one
before it validation, full ranking over the catalogue with the user's earlier items excluded),
the protocol of the published rows, which are read from each dataset's README at run time (they
are the data's, not recloop's, so they are never copied here). ``--cold-start`` adds the
next-window protocol: train on everything up to a cut-off (the time by which
``COLD_START_CUTOFF_SHARE`` of the log has arrived), test on every later event, and report
Recall@10 on the events whose item was first seen after the cut-off: where an id-only model
cannot score.

``QUALITY_WORKDIR=DIR`` keeps each run's model under ``DIR/<dataset>-<arm>-<protocol>``: a
run killed part-way resumes from its last epoch's checkpoint when started again (the
reported training seconds then include every attempt's, ``recloop.training`` accounting).

Prints one Markdown table (and writes JSON to ``--out``). Timings are wall clock on whatever
the machine is doing: on a shared machine they are upper bounds.

``--eval-speed DATASET=MODEL_DIR`` trains nothing: it times the leave-one-out evaluation of a
trained model (every test user, full ranking of the catalogue, every metric; best of
``--repeats``) against ``EVAL_TARGET_SECONDS`` and prints each repeat with the load average
it ran under (the targets are for 2 cores; another job on them shows in the load).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RECLOOP_DATA_DIR", str(REPO.parent / "shared" / "datasets"))
DATASETS = ("movielens-100k", "movielens-1m", "amazon-beauty")
ARMS = {"hybrid": {}, "text": {"hybrid": False}, "id": {"use_text": False}}
COLD_START_CUTOFF_SHARE = 0.95  # next-window protocol: train on the first 95% of events
K = 10
# Full-ranking evaluation of every leave-one-out test user on 2 cores (issue 17's targets).
EVAL_TARGET_SECONDS = {"movielens-1m": 5.0, "amazon-beauty": 10.0}


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _settings(workdir: Path, arm: str):
    from recloop.settings import Settings

    cache = os.environ.get("RECLOOP_CACHE_DIR", str(REPO / ".recloop" / "cache"))
    # One documented rule instead of one length for every data set (training/lengths.py).
    train = {"max_len": os.environ.get("RECLOOP_TRAIN__MAX_LEN", "auto"), **ARMS[arm]}
    return Settings(home=workdir, cache_dir=cache, train=train)


def _evaluate(model_dir: Path, cases, items, seen_events) -> tuple[dict[str, float], float]:
    from recloop.evaluation.harness import evaluate_scorer
    from recloop.serving import load_recommender

    rec = load_recommender(str(model_dir))
    started = time.perf_counter()
    result = evaluate_scorer(
        rec,
        cases,
        k=K,
        items=items,
        item_embeddings=rec.item_text_embeddings,
        popularity=seen_events,
    )
    return result, time.perf_counter() - started


def _log_epoch(started: float):
    """A line per epoch on stderr (the progress of a run whose output is a log file)."""

    def log(epoch: int, metrics: dict[str, float]) -> None:
        shown = {k: round(v, 4) for k, v in metrics.items() if k != "epoch"}
        elapsed = time.perf_counter() - started
        print(f"epoch {epoch} {elapsed:.0f}s {shown}", file=sys.stderr, flush=True)

    return log


def run_child(dataset: str, arm: str, protocol: str) -> dict:
    """Train and evaluate one (dataset, arm, protocol) in this process."""
    import numpy as np
    import pandas as pd

    from recloop.data.datasets import load_dataset
    from recloop.evaluation.protocols import leave_one_out, loo_cases, next_window_cases
    from recloop.training.trainer import train_recommender

    # A run killed part-way resumes from its checkpoint when started again (same workdir).
    root = os.environ.get("QUALITY_WORKDIR")
    if root:
        workdir = Path(root) / f"{dataset}-{arm}-{protocol}"
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix=f"quality-{dataset}-{arm}-"))
    settings = _settings(workdir, arm)
    data = load_dataset(settings, dataset)
    started = time.perf_counter()
    if protocol == "loo":
        split = leave_one_out(data.events)
        train, valid = split.train, split.valid
        cases, seen = loo_cases(split, "test"), pd.concat([split.train, split.valid])
    else:
        ts = np.sort(data.events["timestamp"].to_numpy())
        cutoff = int(ts[int(COLD_START_CUTOFF_SHARE * (len(ts) - 1))])
        train, valid = data.events[data.events["timestamp"] <= cutoff], None
        window = int(ts[-1]) - cutoff
        cases, seen = next_window_cases(data.events, cutoff, window), train
    trained = train_recommender(
        settings,
        train,
        data.items,
        valid_events=valid,
        out_dir=workdir / "model",
        show_progress=sys.stderr.isatty(),
        on_epoch_end=_log_epoch(started),
    )
    train_peak = _peak_gib()
    result, eval_seconds = _evaluate(trained.model_dir, cases, data.items, seen)
    metrics = {key: result.metrics[f"{key}@{K}"] for key in ("ndcg", "recall", "mrr", "coverage")}
    row = {
        "dataset": dataset,
        "arm": arm,
        "protocol": protocol,
        "cases": result.n_cases,
        **metrics,
        "train_seconds": round(trained.train_seconds, 1),
        "epochs": trained.epochs,
        # events/s: every training event is a target once per epoch (validation included)
        "train_events_per_s": round(len(train) * trained.epochs / trained.train_seconds),
        "model_dir": str(trained.model_dir),
        "best_valid": trained.metrics,
        "train_peak_gib": round(train_peak, 2),
        "eval_seconds": round(eval_seconds, 2),
        "peak_gib": round(_peak_gib(), 2),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if protocol == "cold":
        cold = result.per_user["cold_item"].to_numpy(dtype=bool)
        row["cold_cases"] = int(cold.sum())
        row["cold_recall"] = float(result.per_user.loc[cold, f"recall@{K}"].mean())
    return row


def eval_speed(dataset: str, model_dir: Path, repeats: int) -> dict:
    """Seconds to evaluate a trained model on every leave-one-out test user (no training).

    The cost does not depend on the weights: any model with the dataset's catalogue and
    user-tower length (a one-epoch run will do) measures it.
    """
    import pandas as pd

    from recloop.data.datasets import load_dataset
    from recloop.evaluation.protocols import leave_one_out, loo_cases

    settings = _settings(Path(tempfile.mkdtemp(prefix=f"eval-speed-{dataset}-")), "hybrid")
    data = load_dataset(settings, dataset)
    split = leave_one_out(data.events)
    cases, seen = loo_cases(split, "test"), pd.concat([split.train, split.valid])
    seconds, loads = [], []
    for _ in range(repeats):
        result, took = _evaluate(model_dir, cases, data.items, seen)
        seconds.append(round(took, 2))
        loads.append(round(os.getloadavg()[0], 2))
        print(f"{dataset}: eval {took:.2f}s at load {loads[-1]}", file=sys.stderr, flush=True)
    import torch  # after recloop's import, which sets how its threads wait

    return {
        "dataset": dataset,
        "model_dir": str(model_dir),
        "cases": result.n_cases,
        "eval_seconds": seconds,
        "best_seconds": min(seconds),
        "target_seconds": EVAL_TARGET_SECONDS.get(dataset),
        "load_average": loads,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "ndcg@10": result.metrics[f"ndcg@{K}"],
    }


def published_rows(dataset: str) -> list[dict]:
    """The published results a dataset's README gives (a Markdown table or a sentence)."""
    readme = Path(os.environ["RECLOOP_DATA_DIR"]) / dataset / "README.md"
    if not readme.exists():
        return []
    text = readme.read_text(encoding="utf-8")
    start = text.find("Published results")
    if start < 0:
        return []
    section = text[start:].split("\nLicense")[0]
    rows = []
    table = [line for line in section.splitlines() if line.startswith("|")]
    if table:
        header = [cell.strip().lower() for cell in table[0].strip("|").split("|")]
        for line in table[2:]:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            row = {"model": cells[0]}
            for name, cell in zip(header[1:], cells[1:], strict=False):
                row[name.replace("@10", "")] = float(cell)
            rows.append(row)
        return rows
    # Prose: "...: A NDCG@10 0.134 / HR@10 0.250; B 0.154 / 0.284; ..."
    body = " ".join(section.split(":", 1)[1].split())
    for clause in body.split(";"):
        numbers = re.findall(r"0\.\d+", clause)
        if len(numbers) < 2:
            continue
        model = clause.split(numbers[0])[0].replace("NDCG@10", "").strip(" .")
        rows.append({"model": model, "ndcg": float(numbers[0]), "recall": float(numbers[1])})
    return rows


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[dict]) -> str:
    """One Markdown table: each dataset's recloop rows, then its published rows."""
    lines = [
        "| dataset | model | NDCG@10 | Recall@10 | MRR@10 | coverage@10 | train s | epochs "
        "| peak GiB | eval s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for r in rows:
            if r["dataset"] != dataset or r["protocol"] != "loo":
                continue
            lines.append(
                f"| {dataset} | recloop ({r['arm']}) | {_fmt(r['ndcg'])} | {_fmt(r['recall'])} "
                f"| {_fmt(r['mrr'])} | {_fmt(r['coverage'], 3)} | {r['train_seconds']:.0f} "
                f"| {r['epochs']} | {r['peak_gib']:.2f} | {r['eval_seconds']:.1f} |"
            )
        for p in published_rows(dataset):
            lines.append(
                f"| {dataset} | {p['model']} (published) | {_fmt(p.get('ndcg'))} "
                f"| {_fmt(p.get('recall'))} | {_fmt(p.get('mrr'))} | | | | | |"
            )
    cold = [r for r in rows if r["protocol"] == "cold"]
    if cold:
        lines += [
            "",
            "| dataset | model | next-window Recall@10 | cold-item cases | cold-item Recall@10 "
            "| train s |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in cold:
            lines.append(
                f"| {r['dataset']} | recloop ({r['arm']}) | {_fmt(r['recall'])} "
                f"| {r['cold_cases']} | {_fmt(r['cold_recall'])} | {r['train_seconds']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--arms", nargs="+", default=["hybrid"], choices=list(ARMS))
    parser.add_argument("--cold-start", action="store_true", help="add the next-window protocol")
    parser.add_argument("--no-loo", action="store_true", help="skip leave-one-out")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/quality.json")
    parser.add_argument("--child", nargs=3, metavar=("DATASET", "ARM", "PROTOCOL"))
    parser.add_argument(
        "--eval-speed",
        action="append",
        default=[],
        metavar="DATASET=MODEL_DIR",
        help="time the evaluation of a trained model instead (repeatable; trains nothing)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="--eval-speed repeats")
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_child(*args.child)), flush=True)
        return
    if args.eval_speed:
        for spec in args.eval_speed:
            dataset, _, model_dir = spec.partition("=")
            row = eval_speed(dataset, Path(model_dir), args.repeats)
            print(json.dumps(row), flush=True)
        return
    protocols = ([] if args.no_loo else ["loo"]) + (["cold"] if args.cold_start else [])
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    for dataset in args.datasets:
        for protocol in protocols:
            for arm in args.arms:
                print(f"== {dataset} {arm} {protocol}", file=sys.stderr, flush=True)
                done = subprocess.run(
                    [sys.executable, __file__, "--child", dataset, arm, protocol],
                    stdout=subprocess.PIPE,
                    text=True,
                    check=True,
                )
                result = json.loads(done.stdout.split("RESULT ", 1)[1])
                print(json.dumps(result), file=sys.stderr, flush=True)
                key = (dataset, arm, protocol)
                rows = [r for r in rows if (r["dataset"], r["arm"], r["protocol"]) != key]
                rows.append(result)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
