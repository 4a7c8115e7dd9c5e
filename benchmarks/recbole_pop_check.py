"""Re-run RecBole 1.2.1's Pop on MovieLens-100k: as shipped, and with its counting fixed.

Why recloop's popularity baseline differs from the reference Pop figures of issue 5
(Recall@10 0.0721 ...): RecBole's ``Pop.calculate_loss`` does
``item_cnt[item, :] = item_cnt[item, :] + 1``, an indexed assignment that counts an item
once per batch however often it occurs, and Pop is a POINTWISE model, so each batch holds
1,024 positives and 1,024 uniformly sampled negatives. This script runs RecBole unchanged
(reproduces the reference) and with ``index_add_`` over the positives (true training counts,
which is what recloop's ``pop`` ranks by), and writes both to
``benchmarks/results/recbole_pop_check.json``.

RecBole is not a recloop dependency (it pins old libraries); install it aside, without its
dependencies, and run with the project's venv (torch, numpy, pandas, scipy are there):

    .venv/bin/pip install --target /tmp/recbole --no-deps recbole==1.2.1 colorlog==4.7.2 \
        texttable thop tabulate
    PYTHONPATH=/tmp/recbole .venv/bin/python benchmarks/recbole_pop_check.py

RecBole 1.2.1 predates numpy 2 and torch 2.6: the shims below restore the removed names
(``np.float_``...), let ``torch.load`` read its own checkpoints, and stub the optional
``ray``/``tensorboard`` imports it makes at import time. Its ml-100k copy is the one our
shared dataset was converted from.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = [
    "Recall",
    "NDCG",
    "MRR",
    "ItemCoverage",
    "GiniIndex",
    "AveragePopularity",
    "TailPercentage",
    "ShannonEntropy",
]


def _shims() -> None:
    import numpy as np
    import torch

    original_load = torch.load
    torch.load = lambda *a, **k: original_load(*a, **{**k, "weights_only": False})
    for name, value in {
        "float_": np.float64,
        "complex_": np.complex128,
        "unicode_": np.str_,
        "float": float,
        "int": int,
        "bool": bool,
        "long": int,
    }.items():
        if not hasattr(np, name):
            setattr(np, name, value)
    ray = types.ModuleType("ray")
    ray.tune = types.ModuleType("ray.tune")
    sys.modules.setdefault("ray", ray)
    sys.modules.setdefault("ray.tune", ray.tune)
    board = types.ModuleType("torch.utils.tensorboard")
    board.SummaryWriter = lambda *a, **k: types.SimpleNamespace(
        add_scalar=lambda *a, **k: None, add_hparams=lambda *a, **k: None, close=lambda: None
    )
    sys.modules["torch.utils.tensorboard"] = board
    from recbole.evaluator import collector

    def get_data_struct(self):  # RecBole 1.2.1 calls .cpu() on ints with recent torch
        import copy

        for key, value in self.data_struct._data_dict.items():
            self.data_struct._data_dict[key] = value.cpu() if hasattr(value, "cpu") else value
        returned = copy.deepcopy(self.data_struct)
        for key in ["rec.topk", "rec.meanrank", "rec.score", "rec.items", "data.label"]:
            if key in self.data_struct:
                del self.data_struct[key]
        return returned

    collector.Collector.get_data_struct = get_data_struct


def _fix_pop_counting() -> None:
    import torch
    from recbole.model.general_recommender import pop

    def calculate_loss(self, interaction):
        item = interaction[self.ITEM_ID]
        if "label" in interaction.interaction:  # pointwise batches carry sampled negatives
            item = item[interaction["label"] > 0]
        self.item_cnt.index_add_(0, item, torch.ones(len(item), 1, dtype=torch.long))
        self.max_cnt = torch.max(self.item_cnt, dim=0)[0]
        return torch.nn.Parameter(torch.zeros(1))

    pop.Pop.calculate_loss = calculate_loss


def run_pop(fixed: bool) -> dict:
    import recbole
    from recbole.quick_start import run_recbole

    if fixed:
        _fix_pop_counting()
    config = {
        "data_path": str(Path(recbole.__file__).parent / "dataset_example"),
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "eval_args": {
            "split": {"LS": "valid_and_test"},
            "order": "TO",
            "mode": "full",
            "group_by": "user",
        },
        "metrics": METRICS,
        "topk": [10],
        "valid_metric": "NDCG@10",
        "epochs": 1,
        "show_progress": False,
        "checkpoint_dir": "/tmp/recbole-checkpoints",
        "device": "cpu",
        "use_gpu": False,
    }
    result = run_recbole(model="Pop", dataset="ml-100k", config_dict=config)
    return {key: float(value) for key, value in result["test_result"].items()}


def main() -> int:
    _shims()
    rows = {"as_shipped": run_pop(fixed=False), "counting_fixed": run_pop(fixed=True)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recbole_pop_check.json").write_text(json.dumps(rows, indent=2))
    for name, metrics in rows.items():
        print(name, {k: round(v, 4) for k, v in metrics.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
