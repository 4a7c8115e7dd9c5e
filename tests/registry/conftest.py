"""Fixtures of the registry tests: one MLflow store for the whole directory.

Creating an MLflow SQLite database costs ~5 s; every test registers under a model name of
its own instead, so tests stay independent on the shared store.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mlflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace (and MLflow DB) shared by the registry and CLI tests."""
    from recloop.settings import Settings
    from recloop.tracking import configure_mlflow

    home = tmp_path_factory.mktemp("registry-home")
    configure_mlflow(Settings(home=home))
    return home


@pytest.fixture
def settings(mlflow_home: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings on the shared store with a model name of its own (also in env, for the CLI)."""
    from recloop.settings import Settings

    name = f"rec-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("RECLOOP_HOME", str(mlflow_home))
    monkeypatch.setenv("RECLOOP_REGISTRY__MODEL_NAME", name)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return Settings(home=mlflow_home, registry={"model_name": name})
