"""A wheel-only install runs the main job: ``recloop simulate`` from the built package.

The wheel is built from a copy of the sources (so the checkout gets no ``build/``), installed
without dependencies into a plain folder, and the README's main job runs from a directory
outside the checkout with only that folder on the path for recloop: the flows, the gate
policy, the drift policy, the templates, the validation suites and the migrations must all
ship in the package. The dependencies are the test environment's; a tiny model and a
permissive gate keep it to minutes (the figures are not the point here; the full-size
replay reports them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = {
    "RECLOOP_TRAIN__HIDDEN_DIM": "16",
    "RECLOOP_TRAIN__NUM_LAYERS": "1",
    "RECLOOP_TRAIN__NUM_HEADS": "1",
    "RECLOOP_TRAIN__MAX_LEN": "20",
    "RECLOOP_TRAIN__BATCH_SIZE": "256",
    "RECLOOP_TRAIN__DEVICE": "cpu",
    "RECLOOP_LOOP__SIMULATE_MAX_EPOCHS": "1",
    "RECLOOP_TRAIN__INCREMENTAL_EPOCHS": "1",
    "RECLOOP_EVAL__BOOTSTRAP_SAMPLES": "200",
    "RECLOOP_DRIFT__LOG_TO_MLFLOW": "false",
    "RECLOOP_INGEST__DATA_DOCS": "false",
}
# What decides where `recloop` is imported from: nothing of the checkout may be on the path.
PATH_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")


def build_wheel(out: Path) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` on a copy of what the wheel is built from."""
    source = out / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(out / "dist"), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    [wheel] = (out / "dist").glob("recloop-*.whl")
    return wheel


def test_the_wheel_alone_runs_recloop_simulate(tmp_path, movielens_dir, embedding_cache_dir):
    wheel = build_wheel(tmp_path)
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
         str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    policy = yaml.safe_load((site / "recloop" / "gate" / "gate_policy.yaml").read_text())
    policy["floors"] = {key: 1e-4 for key in policy["floors"]}  # a tiny model, one epoch
    policy["infrastructure"]["p95_latency_ms"] = 5000
    (tmp_path / "gate_policy.yaml").write_text(yaml.safe_dump(policy))
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
    env.update(TINY_MODEL)
    env.update(
        PYTHONPATH=str(site),
        RECLOOP_HOME=str(tmp_path / "home"),
        RECLOOP_DATA_DIR=str(movielens_dir.parent),
        RECLOOP_CACHE_DIR=str(embedding_cache_dir),
        RECLOOP_GATE__POLICY_FILE=str(tmp_path / "gate_policy.yaml"),
    )
    env.pop("RECLOOP_DATABASE_URL", None)
    workdir = tmp_path / "elsewhere"  # not the checkout: nothing found by the current dir
    workdir.mkdir()
    main = (
        "import sys, recloop; print('recloop from', recloop.__file__, file=sys.stderr); "
        "from recloop.cli.main import main; sys.argv[0] = 'recloop'; main()"
    )
    args = ["simulate", "movielens-100k", "--bootstrap-weeks", "20", "--weeks", "2", "--json"]
    proc = subprocess.run(
        [sys.executable, "-c", main, *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert f"recloop from {site / 'recloop' / '__init__.py'}" in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["weeks"] == 2 and [w["week"] for w in summary["per_week"]] == [21, 22]
    assert set(summary["arms"]) == {"continual", "frozen", "full_retrain", "recent_pop"}
    assert summary["initial_model"]["version"] == "1"
    assert all(w["decision"] in {"promoted", "rejected", "no-retrain"} for w in summary["per_week"])
    report = Path(summary["report_path"])
    assert report.is_file() and report.is_relative_to(tmp_path / "home")
    assert "recloop simulation" in report.read_text()
