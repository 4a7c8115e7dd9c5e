"""A workspace whose store holds all of MovieLens-100k (written directly, no validation)."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def ml_store_file(movielens, tmp_path_factory):
    """A SQLite store with every MovieLens event and item, written once per session."""
    from recloop.data import schema
    from recloop.data.store import bulk_insert, open_store, upsert
    from recloop.settings import Settings

    home = tmp_path_factory.mktemp("ml-store")
    settings = Settings(home=home)
    events = movielens.events.assign(batch_id="movielens-100k")
    items = movielens.items.assign(batch_id="movielens-100k")
    engine = open_store(settings)
    with engine.begin() as connection:
        bulk_insert(connection, schema.events, events, [*movielens.events.columns, "batch_id"])
        upsert(connection, schema.items, items, "item_id")
    engine.dispose()  # closes the last connection: SQLite folds its WAL into the file
    return home / "recloop.db"


@pytest.fixture
def ml_store(workspace, ml_store_file):
    """Settings of a fresh workspace whose store is a copy of ``ml_store_file``."""
    shutil.copy(ml_store_file, workspace.home_dir / "recloop.db")
    return workspace


@pytest.fixture
def run_cli(workspace):
    """Run ``recloop`` in-process; returns (exit code, stdout, stderr, last-line JSON)."""
    from recloop.cli.main import app

    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        payload = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
        return result.exit_code, result.stdout, result.stderr, payload

    return run
