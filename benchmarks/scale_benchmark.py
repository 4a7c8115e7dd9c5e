"""Scale benchmark: how data preparation, one epoch and full-ranking evaluation grow (prints).

    .venv/bin/python benchmarks/scale_benchmark.py                  # beauty ml-1m scale-1m scale-5m
    .venv/bin/python benchmarks/scale_benchmark.py --data scale-20m # one size on its own
    .venv/bin/python benchmarks/scale_benchmark.py --data beauty --step eval --step validate

Data sets (read from ``RECLOOP_DATA_DIR``, default ``../shared/datasets``):

- ``beauty`` (Amazon Beauty, 198k events), ``ml-1m`` (MovieLens-1M, 1.0M events), ``ml-100k``;
- ``scale-1m``, ``scale-5m``, ``scale-20m``: MovieLens-1M resampled to that many events by
  copying whole users under new ids, each copy with its timestamps jittered (up to a day)
  and a tenth of its events dropped, so users differ; the catalog stays ML-1M's 3,416
  items, so cost growth against events is visible with everything else fixed.

Steps, each measured in a fresh child process (its peak RSS is the process's, data loading
included; ``rss_loaded`` is the RSS once the data is in memory, before the step):

- ``prepare``: ``prepare_problem`` (vocabulary, sequences, validation cases: last event per
  user) plus ``training_windows`` at the default ``max_len`` and overlap;
- ``validate``: what the training loop runs after each epoch (``validation_metrics``;
  ``validation_scores`` + ``ranking_metrics`` in versions before it) over every
  validation user with a freshly initialised network of the default shape (speed does
  not depend on weights);
- ``epoch``: training steps at the default batch size, on 2 CPU threads; ``--max-steps``
  (default 200) caps them, and the epoch time is extrapolated from the steps measured
  (the table says which);
- ``eval``: leave-one-out test cases (``recloop.evaluation.protocols``) and the harness's
  full ranking of every user as ``recloop evaluate`` does it (``evaluate_scorer`` at the
  deepest K of ``eval.curve_ks`` with the model's text embeddings for ILD, then the cut at
  ``eval.k`` and the metric-vs-K curve; no MLflow), with a ``Recommender`` loaded from a
  model directory of that fresh network. ``protocol_s`` is building the cases, ``eval_s``
  the harness.

Item text is not encoded (a benchmark of the encoder is not this one's job): the network
reads a random unit-vector bank of the encoder's width, which costs the same.
Timings are wall clock on whatever the machine is doing; torch uses ``--threads`` (2).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from resample import DATASETS, grown_log, read_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
SCALES = {"scale-1m": 1_000_000, "scale-5m": 5_000_000, "scale-20m": 20_000_000}
STEPS = ("prepare", "validate", "epoch", "eval")
DEFAULT_DATA = ("beauty", "ml-1m", "scale-1m", "scale-5m")
TEXT_DIM = 384  # all-MiniLM-L6-v2


def _rss_mb() -> float:
    """Current resident memory of this process in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def resampled(n_events: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MovieLens-1M grown to ``n_events`` with copied users; the catalog stays ML-1M's."""
    return grown_log(n_events, new_item_share=0.0, seed=seed)


def load(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return resampled(SCALES[name]) if name in SCALES else read_dataset(name)


def _fresh_net(n_items: int, seed: int = 0):
    """A network of the default shape over a random unit text bank."""
    import torch

    from recloop.model.network import NetConfig, RecommenderNet
    from recloop.settings import Settings

    cfg = Settings().train
    rng = np.random.default_rng(seed)
    bank = rng.standard_normal((n_items, TEXT_DIM)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    torch.manual_seed(seed)
    config = NetConfig(
        n_items=n_items,
        text_dim=TEXT_DIM,
        hidden_dim=cfg.hidden_dim,
        num_heads=cfg.num_heads,
        num_layers=cfg.num_layers,
        max_len=cfg.max_len,
        dropout=cfg.dropout,
        hybrid=cfg.hybrid,
        temperature=cfg.temperature,
    )
    net = RecommenderNet(config, torch.from_numpy(bank))
    with torch.no_grad():
        net.seen_mask[1:] = 1.0
    return net


def _prepare(events, items):
    from recloop.settings import Settings
    from recloop.training.prepare import prepare_problem
    from recloop.training.sequences import training_windows

    cfg = Settings().train
    start = time.perf_counter()
    problem = prepare_problem(events, items)
    prepared = time.perf_counter() - start
    stride = max(1, round(cfg.max_len * (1 - cfg.window_overlap)))
    windows = training_windows(problem.sequences, cfg.max_len, stride=stride)
    return problem, windows, prepared, time.perf_counter() - start - prepared


def step_prepare(events, items) -> dict:
    problem, windows, prepared, cut = _prepare(events, items)
    return {
        "prepare_s": prepared,
        "windows_s": cut,
        "users": len(problem.sequences),
        "valid_cases": len(problem.valid_cases),
        "windows": len(windows),
    }


def step_validate(events, items) -> dict:
    from recloop.training import objective
    from recloop.training.prepare import prepare_problem

    problem = prepare_problem(events, items)
    net = _fresh_net(len(problem.item_ids))
    loaded = _rss_mb()
    start = time.perf_counter()
    k = objective.VALIDATION_K
    if hasattr(objective, "validation_metrics"):  # what the training loop validates with
        metrics = objective.validation_metrics(net, problem.valid_cases, k)
        loss = metrics["loss"]
    else:  # recloop before batched validation: the whole score matrix
        scores, loss = objective.validation_scores(net, problem.valid_cases)
        metrics = objective.ranking_metrics(scores, problem.valid_cases, k)
    return {
        "validate_s": time.perf_counter() - start,
        "valid_cases": len(problem.valid_cases),
        "ndcg@10": metrics["ndcg@10"],
        "valid_loss": loss,
        "rss_before_step": loaded,
    }


def step_epoch(events, items, max_steps: int) -> dict:
    import torch

    from recloop.settings import Settings
    from recloop.training.objective import NextItemObjective

    cfg = Settings().train
    problem, windows, _, _ = _prepare(events, items)
    net = _fresh_net(len(problem.item_ids))
    objective = NextItemObjective(net)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    order = np.random.default_rng(0).permutation(len(windows))
    n_steps = -(-len(windows) // cfg.batch_size)
    run_steps = n_steps if max_steps <= 0 else min(n_steps, max_steps)
    loaded = _rss_mb()
    objective.train()
    start = time.perf_counter()
    targets = 0
    for step in range(run_steps):
        rows = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        batch = windows.take(rows)
        tensors = [torch.from_numpy(getattr(batch, f)) for f in _FIELDS]
        loss = objective(*tensors)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), cfg.grad_clip)
        optimizer.step()
        targets += int((batch.weights > 0).sum())
    seconds = time.perf_counter() - start
    return {
        "epoch_s": seconds * n_steps / max(run_steps, 1),
        "epoch_extrapolated": run_steps < n_steps,
        "steps_measured": run_steps,
        "steps_per_epoch": n_steps,
        "targets_per_s": targets / max(seconds, 1e-9),
        "rss_before_step": loaded,
    }


_FIELDS = ("inputs", "targets", "weights", "scenarios")


def step_eval(events, items) -> dict:
    import tempfile

    from recloop.evaluation import evaluate_scorer
    from recloop.evaluation.curves import metric_curve
    from recloop.evaluation.protocols import leave_one_out, loo_cases
    from recloop.model.artifacts import save_model_dir
    from recloop.serving.recommender import Recommender
    from recloop.settings import Settings

    start = time.perf_counter()
    split = leave_one_out(events)
    cases = loo_cases(split, "test")
    protocol_s = time.perf_counter() - start
    catalog = np.union1d(items["item_id"].to_numpy(), events["item_id"].unique())
    model_items = pd.DataFrame({"item_id": catalog}).merge(items, on="item_id", how="left")
    net = _fresh_net(len(catalog))
    trained = np.searchsorted(catalog, split.train["item_id"])
    popularity = np.bincount(trained, minlength=len(catalog))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = save_model_dir(
            Path(tmp) / "model", net, items=model_items, popularity=popularity, metadata={}
        )
        recommender = Recommender.load(model_dir)
    del net
    loaded = _rss_mb()
    cfg = Settings().eval
    start = time.perf_counter()
    # What `recloop evaluate` does (evaluation.run.evaluate_model), without MLflow: rank at
    # the deepest K of the curve, cut at K, and the metric-vs-K curve.
    deep = evaluate_scorer(
        recommender,
        cases,
        k=max([cfg.k, *cfg.curve_ks]),
        batch_size=cfg.batch_size,
        items=items,
        item_embeddings=recommender.item_text_embeddings,
        popularity=split.train,
    )
    result = deep.at_k(cfg.k)
    metric_curve(deep, cfg.curve_ks)
    return {
        "protocol_s": protocol_s,
        "eval_s": time.perf_counter() - start,
        "cases": result.n_cases,
        "ndcg@10": result.metrics["ndcg@10"],
        "rss_before_step": loaded,
    }


def child(data: str, step: str, max_steps: int, threads: int = 2) -> dict:
    """Run one step on one data set in this process; returns its figures."""
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    events, items = load(data)
    row = {
        "data": data,
        "step": step,
        "threads": threads,
        "events": len(events),
        "users": int(events["user_id"].nunique()),
        "items": int(events["item_id"].nunique()),
        "load_s": time.perf_counter() - start,
        "rss_loaded": _rss_mb(),
    }
    if step == "prepare":
        row.update(step_prepare(events, items))
    elif step == "validate":
        row.update(step_validate(events, items))
    elif step == "epoch":
        row.update(step_epoch(events, items, max_steps))
    else:
        row.update(step_eval(events, items))
    row["peak_rss"] = _peak_mb()
    return row


def _seconds(row: dict) -> str:
    keys = {"prepare": "prepare_s", "validate": "validate_s", "epoch": "epoch_s", "eval": "eval_s"}
    value = row.get(keys[row["step"]])
    if value is None:
        return "-"
    text = f"{value:.2f}"
    if row["step"] == "prepare":
        text += f" (+windows {row['windows_s']:.2f})"
    if row["step"] == "eval":
        text += f" (+cases {row['protocol_s']:.2f})"
    if row.get("epoch_extrapolated"):
        text += f" (from {row['steps_measured']}/{row['steps_per_epoch']} steps)"
    return text


def print_table(rows: list[dict]) -> None:
    print(
        f"\n{'data':<10} {'events':>10} {'users':>8} {'items':>6} {'step':<9} "
        f"{'seconds':<34} {'rss loaded':>11} {'peak rss':>9}"
    )
    for row in rows:
        if "error" in row:
            print(f"{row['data']:<10} {'':>10} {'':>8} {'':>6} {row['step']:<9} {row['error']}")
            continue
        print(
            f"{row['data']:<10} {row['events']:>10,} {row['users']:>8,} {row['items']:>6,} "
            f"{row['step']:<9} {_seconds(row):<34} {row['rss_loaded']:>8.0f} MiB "
            f"{row['peak_rss']:>5.0f} MiB"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", choices=[*DATASETS, *SCALES])
    parser.add_argument("--step", action="append", choices=STEPS)
    parser.add_argument("--max-steps", type=int, default=200, help="epoch steps (0: all)")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads (2: the target machine; 1 on a machine other jobs crowd, where "
        "two threads spin-wait on each other and run many times slower)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--child", nargs=2, metavar=("DATA", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.max_steps, args.threads)))
        return 0
    rows = []
    for data in args.data or DEFAULT_DATA:
        for step in args.step or STEPS:
            command = [sys.executable, __file__, "--child", data, step]
            command += ["--max-steps", str(args.max_steps), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr.strip().splitlines() or ["failed"])[-1]
                row = {"data": data, "step": step, "error": tail}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
