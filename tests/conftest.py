"""Shared fixtures: real MovieLens data, a throw-away workspace, PostgreSQL, Prefect.

Tests read MovieLens-100k from ``../shared/datasets/movielens-100k`` next to the repository
(override with ``RECLOOP_TEST_MOVIELENS_DIR``); it is never copied into the repo.
PostgreSQL tests run when ``RECLOOP_TEST_DATABASE_URL`` names a server (``.ci/run`` sets it
to the local one); each test gets its own fresh database there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Offline and quiet before anything imports transformers, MLflow or Prefect.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
MOVIELENS_DIR = Path(
    os.environ.get(
        "RECLOOP_TEST_MOVIELENS_DIR",
        REPO_ROOT.parent / "shared" / "datasets" / "movielens-100k",
    )
)
PG_URL_ENV = "RECLOOP_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """The real MovieLens-100k (canonical CSV form)."""
    if not (MOVIELENS_DIR / "interactions.csv").exists():
        pytest.fail(f"MovieLens-100k not found at {MOVIELENS_DIR}; set RECLOOP_TEST_MOVIELENS_DIR")
    return MOVIELENS_DIR


@pytest.fixture(scope="session")
def movielens(movielens_dir: Path):
    """MovieLens-100k as canonical DataFrames (read once per session; do not mutate)."""
    from recloop.data.readers import read_movielens_canonical

    return read_movielens_canonical(movielens_dir)


@pytest.fixture(scope="session")
def drifted_weeks(movielens):
    """(items, weeks 4-10 of MovieLens-100k as they are, week 11 with inflated ratings): the
    real shift the monitor tests detect. Frames only; each test ingests them where it needs."""
    import numpy as np

    from recloop.drift.shifts import rating_inflation

    week_s = 7 * 86_400
    events = movielens.events
    start = int(events["timestamp"].min()) + 4 * week_s
    last = start + 7 * week_s
    before = events[(events["timestamp"] >= start) & (events["timestamp"] < last)]
    week, _ = rating_inflation(
        events[(events["timestamp"] >= last) & (events["timestamp"] < last + week_s)],
        movielens.items,
        np.random.default_rng(0),
    )
    columns = ["user_id", "item_id", "value", "timestamp"]
    return movielens.items, before[columns], week[columns]


@pytest.fixture(scope="session")
def embedding_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One text-embedding cache for the whole session: items are encoded once."""
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedding_cache_dir: Path):
    """A fresh RECLOOP_HOME (in env too, for CLI subprocesses) and its Settings."""
    from recloop.settings import Settings

    home = tmp_path / "recloop-home"
    monkeypatch.setenv("RECLOOP_HOME", str(home))
    monkeypatch.setenv("RECLOOP_CACHE_DIR", str(embedding_cache_dir))
    monkeypatch.setenv("RECLOOP_DATA_DIR", str(MOVIELENS_DIR.parent))
    monkeypatch.delenv("RECLOOP_DATABASE_URL", raising=False)
    return Settings()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of the PostgreSQL server for tests; skips when none is configured."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set (no PostgreSQL for this run)")
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"recloop_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The event-store URL for both back ends: every store test runs on each."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API for flow tests (costs ~10 s once per session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
