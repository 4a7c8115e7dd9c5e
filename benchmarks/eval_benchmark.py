"""Evaluation benchmark on MovieLens-100k leave-one-out (prints figures; run on demand).

    .venv/bin/python benchmarks/eval_benchmark.py                       # every baseline
    .venv/bin/python benchmarks/eval_benchmark.py --model sasrec-like=.recloop/models/run1 \
        --model champion=models:/recloop-recommender@champion         # plus model variants

Every baseline and model is evaluated by the same harness with full ranking over the catalog
(the user's training and validation items excluded) on all 943 test users, with every
metric; fit and evaluation seconds are measured (evaluation: best of ``--repeats``; the
target is < 2 s for 943 users). Results go to ``benchmarks/results/eval_ml100k.json`` and
the report (Markdown + HTML, next to RecBole 1.2.1's reference figures) is written by
``benchmarks/report.py``. Timings are wall clock on whatever the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
MOVIELENS = Path(
    os.environ.get("RECLOOP_TEST_MOVIELENS_DIR", REPO.parent / "shared/datasets/movielens-100k")
)
RESULTS = REPO / "benchmarks" / "results"
RECBOLE_CATALOG = 1683  # RecBole's item count for ML-100k includes its [PAD] id
BASELINE_ORDER = ("random", "pop", "recent-pop", "itemknn")


def _evaluate(label, scorer, fit_seconds, data, embeddings, repeats, extra=None):
    """Metrics of ``scorer`` plus timing; evaluation repeated ``repeats`` times."""
    from recloop.evaluation import evaluate_scorer
    from recloop.evaluation.diversity import gini_index

    split, cases, items = data
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = evaluate_scorer(
            scorer, cases, k=10, items=items, popularity=split.train, item_embeddings=embeddings
        )
        seconds.append(time.perf_counter() - start)
    real_catalog = len(items)
    positions = np.searchsorted(np.sort(items["item_id"].to_numpy()), result.top_items)
    row = {
        "model": label,
        "users": int(result.per_user["user_id"].nunique()),
        "metrics": result.metrics,
        "recbole_catalog": {
            "coverage@10": result.metrics["coverage@10"] * real_catalog / RECBOLE_CATALOG,
            "gini@10": gini_index(positions, RECBOLE_CATALOG),
        },
        "ild_source": result.ild_source,
        "fit_seconds": fit_seconds,
        "eval_seconds_best": min(seconds),
        "eval_seconds_first": seconds[0],
        **(extra or {}),
    }
    print(
        f"{label:>14}: recall@10 {result.metrics['recall@10']:.4f}  ndcg@10 "
        f"{result.metrics['ndcg@10']:.4f}  fit {fit_seconds:.2f}s  eval {min(seconds):.3f}s "
        f"(first {seconds[0]:.3f}s, {result.n_cases} users)",
        flush=True,
    )
    return row


def _text_embeddings(items, ids):
    from recloop.model.text import catalog_text_embeddings
    from recloop.settings import Settings

    catalog = items.set_index("item_id").reindex(ids).reset_index()
    return catalog_text_embeddings(Settings(), catalog)


def _model_row(spec, data, repeats):
    from recloop.model.artifacts import read_config
    from recloop.serving import load_recommender
    from recloop.serving.loading import local_model_dir
    from recloop.settings import Settings

    label, _, uri = spec.partition("=")
    uri = uri or label
    with local_model_dir(uri, Settings()) as model_dir:
        config = read_config(model_dir)
        start = time.perf_counter()
        model = load_recommender(model_dir)
        load_seconds = time.perf_counter() - start
    extra = {
        "train_seconds": config.get("train_seconds"),
        "epochs": config.get("epochs"),
        "load_seconds": load_seconds,
        "source": uri,
        "encoder_mode": config.get("encoder_mode"),
    }
    return _evaluate(
        label,
        model,
        config.get("train_seconds") or 0.0,
        data,
        np.asarray(model.item_text_embeddings),
        repeats,
        extra,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="LABEL=MODEL_DIR_OR_URI of a trained recommender (repeatable).",
    )
    parser.add_argument(
        "--no-text-ild",
        action="store_true",
        help="Baselines: ILD over genres only (skips encoding the catalog).",
    )
    parser.add_argument("--repeats", type=int, default=3, help="Evaluation repeats (best kept).")
    parser.add_argument("--out", type=Path, default=RESULTS / "eval_ml100k.json")
    args = parser.parse_args(argv)

    from recloop.data.readers import read_movielens_canonical
    from recloop.evaluation import leave_one_out, loo_cases
    from recloop.evaluation.baselines import build_baseline

    dataset = read_movielens_canonical(MOVIELENS)
    split = leave_one_out(dataset.events)
    cases = loo_cases(split, "test")
    data = (split, cases, dataset.items)
    ids = np.sort(dataset.items["item_id"].to_numpy())
    embeddings = None if args.no_text_ild else _text_embeddings(dataset.items, ids)
    rows = []
    for name in BASELINE_ORDER:
        start = time.perf_counter()
        scorer = build_baseline(name, split.train, ids)
        rows.append(
            _evaluate(name, scorer, time.perf_counter() - start, data, embeddings, args.repeats)
        )
    for spec in args.model:
        rows.append(_model_row(spec, data, args.repeats))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": "movielens-100k",
        "protocol": "loo",
        "k": 10,
        "rows": rows,
        "cpu_count": os.cpu_count(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.write_text(json.dumps(payload, indent=2, default=float))
    sys.path.insert(0, str(Path(__file__).parent))
    from report import write_report

    for path in write_report(payload, args.out.parent):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
