"""Small real MovieLens slices and a tiny, fast model configuration for loop tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ..conftest import MOVIELENS_DIR
from ..notify.conftest import receiver  # noqa: F401  (the HTTP receiver alerts are sent to)
from ..registry.conftest import mlflow_home, settings  # noqa: F401  (a shared MLflow store)

WEEK = 7 * 86_400
TINY_TRAINING = {
    "RECLOOP_TRAIN__HIDDEN_DIM": "16",
    "RECLOOP_TRAIN__NUM_LAYERS": "1",
    "RECLOOP_TRAIN__NUM_HEADS": "1",
    "RECLOOP_TRAIN__MAX_LEN": "20",
    "RECLOOP_TRAIN__EPOCHS": "2",
    "RECLOOP_TRAIN__INCREMENTAL_EPOCHS": "1",
    "RECLOOP_TRAIN__BATCH_SIZE": "64",
    "RECLOOP_TRAIN__WARMUP_STEPS": "0",
    "RECLOOP_EVAL__BOOTSTRAP_SAMPLES": "200",
    "RECLOOP_DRIFT__MIN_NEW_EVENTS": "100",
    "RECLOOP_DRIFT__LOG_TO_MLFLOW": "false",
}


@pytest.fixture
def slice_batches(movielens, tmp_path: Path) -> list[Path]:
    """120 real users over five weeks: the items, weeks 0-3, then week 4, as batch files."""
    users, weeks, out = 120, 5, tmp_path / "batches"
    events = movielens.events[movielens.events["user_id"] <= users]
    t0 = int(movielens.events["timestamp"].min())
    events = events[events["timestamp"] < t0 + weeks * WEEK]
    items = movielens.items[movielens.items["item_id"].isin(events["item_id"])]
    out.mkdir(parents=True, exist_ok=True)
    items.to_csv(out / "items.csv", index=False)
    paths = [out / "items.csv"]
    cut = t0 + (weeks - 1) * WEEK
    for name, part in (
        ("events-a.csv", events[events["timestamp"] < cut]),
        ("events-b.csv", events[events["timestamp"] >= cut]),
    ):
        part.to_csv(out / name, index=False)
        paths.append(out / name)
    return paths


@pytest.fixture
def loop_env(workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Workspace settings with a tiny model and a permissive gate (tiny data, tiny model)."""
    from recloop.settings import PACKAGE_DIR, Settings

    for key, value in TINY_TRAINING.items():
        monkeypatch.setenv(key, value)
    policy = yaml.safe_load((PACKAGE_DIR / "gate" / "gate_policy.yaml").read_text())
    policy["floors"] = {key: 1e-4 for key in policy["floors"]}
    policy["infrastructure"]["p95_latency_ms"] = 5000
    path = tmp_path / "gate_policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    monkeypatch.setenv("RECLOOP_GATE__POLICY_FILE", str(path))
    return Settings()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """``../shared/datasets``: MovieLens-1M and Amazon Beauty sit beside MovieLens-100k."""
    root = MOVIELENS_DIR.parent
    for name in ("movielens-1m", "amazon-beauty"):
        if not (root / name / "interactions.csv").exists():
            pytest.fail(f"{name} not found in {root}; set RECLOOP_TEST_MOVIELENS_DIR's parent")
    return root
