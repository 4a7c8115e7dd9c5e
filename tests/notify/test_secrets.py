"""Secrets stay secret: a drift check configured with secret-bearing alert and database URLs
(some malformed) leaves no trace of them in any output, log, store, report or Prefect record.

The run is real: a PostgreSQL event store reached through a URL with a password (the test
server trusts local connections, so the password is carried and ignored), MovieLens weeks
with inflated ratings, the monitor flow on a Prefect API (events, artifact, logs), MLflow
logging of the drift report, and the CLI in a subprocess with DEBUG logging (where Apprise
prints Slack tokens and urllib3 request paths). Then everything is searched for the secret.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SECRET = "Zq7SECRETtok9"
CLI_WITH_DEBUG_LOGS = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG); "
    "from recloop.cli.main import main; sys.argv[0] = 'recloop'; main()"
)


def secret_urls(receiver) -> list[str]:
    return [
        f"json://ops:{SECRET}@127.0.0.1:{receiver.port}/hook-{SECRET}",  # delivered
        f"slack://T{SECRET}/B{SECRET}/C{SECRET}/#alerts",  # no network: fails, logs tokens
        f"json://ops:{SECRET}@127.0.0.1:notaport/x",  # malformed port
        f"not-a-url-{SECRET}",  # malformed altogether
    ]


@pytest.fixture
def secret_env(pg_url, tmp_path, receiver, monkeypatch, embedding_cache_dir):
    """Environment of a workspace whose alert and database URLs carry ``SECRET``."""
    url = make_url(pg_url).set(password=SECRET).render_as_string(hide_password=False)
    env = {
        "RECLOOP_HOME": str(tmp_path / "home"),
        "RECLOOP_DATABASE_URL": url,
        "RECLOOP_CACHE_DIR": str(embedding_cache_dir),
        "RECLOOP_NOTIFY__APPRISE_URLS": json.dumps(secret_urls(receiver)),
        "RECLOOP_NOTIFY__RETRIES": "0",
        "RECLOOP_NOTIFY__TRIGGERED_RUN_WAIT_SECONDS": "0",
        "RECLOOP_INGEST__DATA_DOCS": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def load_drifted_weeks(drifted_weeks) -> None:
    """Weeks 4-10 of MovieLens-100k as they are, week 11 with inflated ratings."""
    from recloop.data.ingest import ingest_frame
    from recloop.settings import Settings

    settings = Settings()
    items, before, week = drifted_weeks
    ingest_frame(settings, items, "items")
    ingest_frame(settings, before, "events")
    ingest_frame(settings, week, "events")


def store_text(url: str) -> str:
    """Every row of every table of the event store, as text."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            return "\n".join(
                str(row[0])
                for table in tables
                for row in conn.execute(sa.text(f'SELECT CAST(t AS text) FROM "{table}" t'))
            )
    finally:
        engine.dispose()


def prefect_records() -> str:
    """The Prefect API's flow runs (parameters), task runs, logs, artifacts and events."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    with get_client(sync_client=True) as client:
        parts = [r.model_dump_json() for r in client.read_flow_runs()]
        parts += [r.model_dump_json() for r in client.read_task_runs()]
        parts += [r.model_dump_json() for r in client.read_logs()]
        parts += [r.model_dump_json() for r in client.read_artifacts()]
    events = httpx.post(f"{PREFECT_API_URL.value()}/events/filter", json={"limit": 200})
    return "\n".join([*parts, events.text])


def files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_no_secret_in_any_output_log_store_or_report(
    prefect_harness, secret_env, drifted_weeks, receiver, caplog, capfd, tmp_path
):
    from recloop.loop import flows
    from recloop.settings import Settings

    caplog.set_level(logging.DEBUG)
    load_drifted_weeks(drifted_weeks)
    settings = Settings()
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()

    # The monitor flow: drift, MLflow report, Prefect event and artifact, the alerts.
    payload = flows.monitor(settings=settings)
    assert payload["drift_detected"] and payload["alert"]["sent"]
    # The CLI, in a process of its own, with every library's DEBUG log on stderr.
    cli = subprocess.run(
        [sys.executable, "-c", CLI_WITH_DEBUG_LOGS, "drift", "--json"],
        env={**os.environ, **secret_env, "RECLOOP_NOTIFY__COOLDOWN_HOURS": "0"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "Slack POST URL: https://hooks.slack.com/services/***" in cli.stderr  # redacted
    # A malformed database URL: the error path, one line, exit 2.
    bad_db = {**secret_env, "RECLOOP_DATABASE_URL": f"postgresql+psycopg://u:{SECRET}@h:x/db"}
    broken = subprocess.run(
        [sys.executable, "-c", CLI_WITH_DEBUG_LOGS, "drift"],
        env={**os.environ, **bad_db}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert broken.returncode == 2 and "not a valid SQLAlchemy URL" in broken.stderr

    # Every place the run wrote to, searched for the secret.
    captured = capfd.readouterr()
    outputs = {
        "in-process logs": caplog.text,
        "stdout/stderr": captured.out + captured.err,
        "flow result": json.dumps(payload, default=str),
        "cli stdout": cli.stdout,
        "cli stderr (DEBUG logs)": cli.stderr,
        "malformed-URL error": broken.stdout + broken.stderr,
        "alerts received": json.dumps([body for _, body in receiver.requests]),
        "event store (PostgreSQL)": store_text(secret_env["RECLOOP_DATABASE_URL"]),
        "Prefect API records": prefect_records(),
    }
    assert len(receiver.requests) >= 2  # the flow's and the CLI's alerts were delivered
    # Apprise logged the malformed URLs at ERROR, redacted.
    assert "Unsupported URL: ***" in cli.stderr and "Unparseable JSON URL" in cli.stderr
    leaks = [name for name, text in outputs.items() if SECRET in text]
    home = Path(secret_env["RECLOOP_HOME"])
    # The drift reports are stored once, in the check's MLflow run (drift/report.py).
    assert (home / "mlflow.db").exists() and list(home.glob("mlartifacts/*/artifacts/drift/*.html"))
    leaks += files_containing(home, SECRET.encode())  # MLflow store, artifacts, reports, state
    assert leaks == []
