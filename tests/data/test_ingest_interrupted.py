"""A killed ingest stays visible in the ingest log, and ingesting the file again completes it.

The kill is real: ``recloop ingest`` runs in a subprocess and gets SIGKILL while it is inside
its data transaction (held there by a lock the test takes, so the moment is certain).
Rows of processes on other hosts are the one thing forged (a test has one host).
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from recloop.data import schema
from recloop.data.store import dispose_stores, load_events, open_store
from recloop.settings import Settings

ROWS = 20_000  # real MovieLens events: validation takes seconds, so the kill lands mid-way


@pytest.fixture
def store(store_url, workspace, monkeypatch):
    """Settings of a fresh store on each backend, also seen by CLI subprocesses."""
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    monkeypatch.setenv("RECLOOP_INGEST__HEARTBEAT_SECONDS", "0.2")
    yield Settings()
    dispose_stores()


@pytest.fixture
def events_file(movielens_dir, tmp_path) -> Path:
    lines = (movielens_dir / "interactions.csv").read_text().splitlines()[: ROWS + 1]
    path = tmp_path / "events-week.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _log(settings: Settings) -> list[dict]:
    engine = sa.create_engine(settings.store_url.get_secret_value())
    try:
        with engine.connect() as connection:
            return [dict(r) for r in connection.execute(sa.select(schema.ingest_log)).mappings()]
    except sa.exc.OperationalError:  # SQLite: the child is still creating the tables
        return []
    finally:
        engine.dispose()


def _sigint_as_in_a_terminal() -> None:
    """Runs in the child before exec: Ctrl-C's default action, whatever the runner had.

    A runner started in the background by a non-interactive shell (CI, ``nohup ... &``)
    ignores SIGINT, its children inherit that, and Python then installs no handler: the
    child would never see the Ctrl-C this test sends.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_ingest(path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "recloop.cli.main", "ingest", str(path), "--json"]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_sigint_as_in_a_terminal,
    )


def _wait_for(child: subprocess.Popen, settings: Settings, stage: str) -> dict:
    """Poll the log until the child's batch is running in ``stage``."""
    deadline = time.time() + 300
    while time.time() < deadline:
        assert child.poll() is None, child.communicate()
        rows = [r for r in _log(settings) if r["status"] == "running" and r["stage"] == stage]
        if rows:
            return rows[0]
        time.sleep(0.02)
    raise AssertionError(f"the ingest never reached {stage}")


def _hold_sqlite_writes(settings: Settings) -> sqlite3.Connection | None:
    """Take SQLite's write lock, so the child cannot commit; None if the child has it."""
    path = sa.engine.make_url(settings.store_url.get_secret_value()).database
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # the child is writing its batch (and has not committed)
        connection.close()
        return None
    return connection


def _locked_backend(settings: Settings) -> int | None:
    """The PostgreSQL backend waiting for the events lock (the child's COPY), if any."""
    engine = sa.create_engine(settings.store_url.get_secret_value())
    query = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE 'COPY \"events\"%'"
    )
    with engine.connect() as connection:
        pid = connection.execute(query).scalar()
    engine.dispose()
    return pid


def _backend_gone(settings: Settings, pid: int) -> bool:
    engine = sa.create_engine(settings.store_url.get_secret_value())
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    with engine.connect() as connection:
        count = connection.execute(query, {"pid": pid}).scalar()
    engine.dispose()
    return count == 0


def _kill_inside_the_data_transaction(child, settings: Settings) -> dict:
    """SIGKILL the child after it started storing and before it could commit."""
    if settings.store_url.get_secret_value().startswith("sqlite"):
        row = _wait_for(child, settings, "storing")
        held = _hold_sqlite_writes(settings)
        child.send_signal(signal.SIGKILL)
        child.wait()
        if held is not None:
            held.execute("ROLLBACK")
            held.close()
        return row
    # PostgreSQL: a SHARE lock on events lets the child read but blocks its COPY.
    engine = sa.create_engine(settings.store_url.get_secret_value())
    with engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE events IN SHARE MODE"))
        row = _wait_for(child, settings, "storing")
        deadline = time.time() + 120
        while (backend := _locked_backend(settings)) is None:
            assert time.time() < deadline and child.poll() is None
            time.sleep(0.05)
        # Blocked as it is, the live process keeps its heartbeat going (so no other host
        # takes it for dead).
        blocked_at = time.time()
        while _log(settings)[0]["heartbeat_at"] <= blocked_at:
            assert time.time() < deadline and child.poll() is None
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        holder.rollback()
    engine.dispose()
    while not _backend_gone(settings, backend):  # the server saw its client die
        time.sleep(0.05)
    return row


def test_killed_ingest_is_logged_and_a_rerun_completes_it(store, events_file, recloop):
    open_store(store)  # the tables exist before the test locks one
    child = _start_ingest(events_file)
    running = _kill_inside_the_data_transaction(child, store)
    assert child.returncode == -signal.SIGKILL

    # The log shows the batch as it was when the process died; nothing of it was stored.
    [row] = _log(store)
    assert (row["status"], row["stage"], row["pid"]) == ("running", "storing", child.pid)
    assert row["source"] == str(events_file.resolve()) and len(row["batch_id"]) == 64
    assert row["received"] == ROWS and row["host"] == socket.gethostname()
    assert row["batch_id"] == running["batch_id"]
    assert len(load_events(store)) == 0

    # Listing the log finds the dead process and says so.
    listed = recloop("batches", "--json")
    assert listed.exit_code == 0, listed.stderr
    [batch] = listed.report["batches"]
    assert batch["status"] == "interrupted"
    assert f"process {child.pid} on {socket.gethostname()} is gone" in batch["message"]
    assert "interrupted while storing" in batch["message"]

    # The same file again: redone from scratch, exact accounting, nothing twice.
    result = recloop("ingest", events_file, "--json")
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert report["batch_id"] == row["batch_id"]
    assert (report["status"], report["received"], report["accepted"]) == ("accepted", ROWS, ROWS)
    assert (report["quarantined"], report["duplicates"], report["attempts"]) == (0, 0, 2)
    assert "the previous one ended interrupted" in report["message"]
    stored = load_events(store)
    assert len(stored) == ROWS
    assert not stored.duplicated(["timestamp", "user_id", "item_id", "event_type"]).any()
    [row] = _log(store)
    assert (row["status"], row["accepted"], row["attempts"]) == ("accepted", ROWS, 2)
    assert row["finished_at"] >= row["started_at"]

    again = recloop("ingest", events_file, "--json")
    assert (again.report["status"], again.report["duplicates"]) == ("duplicate", ROWS)
    assert len(load_events(store)) == ROWS


def test_interrupted_ingest_is_logged_as_failed(workspace, events_file, recloop):
    """Ctrl-C (SIGINT) unwinds: the batch is logged as failed with the reason, exit 130."""
    child = _start_ingest(events_file)
    _wait_for(child, workspace, "validating")
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert b"interrupted" in stderr and b"Traceback" not in stderr
    [row] = _log(workspace)
    assert (row["status"], row["stage"]) == ("failed", "validating")
    assert row["message"].startswith("failed: KeyboardInterrupt")
    assert len(load_events(workspace)) == 0
    result = recloop("ingest", events_file, "--json")
    assert (result.report["status"], result.report["accepted"]) == ("accepted", ROWS)
    assert "the previous one ended failed" in result.report["message"]


def _take_over(settings: Settings, batch_id: str, **owner) -> None:
    """Make the batch's row say a process (``owner``) is ingesting it now."""
    log = schema.ingest_log
    with open_store(settings).begin() as connection:
        connection.execute(
            sa.update(log)
            .where(log.c.batch_id == batch_id)
            .values(status="running", stage="validating", heartbeat_at=time.time(), **owner)
        )


def test_batch_running_on_another_host_waits_for_its_lease(store, recloop, write_batch, ml_lines):
    path = write_batch(ml_lines[:300])
    first = recloop("ingest", path, "--json").report
    _take_over(store, first["batch_id"], host="worker-7", pid=4242, pid_started_at=1.0)

    busy = recloop("ingest", path, "--json")
    assert busy.exit_code == 2
    assert "is being ingested by process 4242 on worker-7" in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1

    # No heartbeat for longer than the lease: the other host's process is taken for dead.
    lease = Settings().ingest.lease_seconds
    log = schema.ingest_log
    with open_store(store).begin() as connection:
        connection.execute(sa.update(log).values(heartbeat_at=time.time() - lease - 5))
    result = recloop("ingest", path, "--json")
    assert result.exit_code == 0, result.stderr
    [marked] = result.report["interrupted"]
    assert "no heartbeat from process 4242 on worker-7" in marked["message"]
    # Its rows were stored by the first ingest: the redo finds them all there.
    assert (result.report["status"], result.report["duplicates"]) == ("duplicate", 300)
    assert result.report["attempts"] == 2
    assert len(load_events(store)) == 300


def test_live_process_on_this_host_is_waited_for_and_a_dead_one_is_not(
    workspace, recloop, write_batch, ml_lines
):
    path = write_batch(ml_lines[:300])
    batch_id = recloop("ingest", path, "--json").report["batch_id"]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        born = psutil.Process(sleeper.pid).create_time()
        here = {"host": socket.gethostname(), "pid": sleeper.pid}
        _take_over(workspace, batch_id, pid_started_at=born, **here)
        busy = recloop("ingest", path)
        assert busy.exit_code == 2 and f"process {sleeper.pid}" in busy.stderr

        # The same pid, but a process started at another time: the owner is gone.
        _take_over(workspace, batch_id, pid_started_at=born - 3600, **here)
        result = recloop("ingest", path, "--json")
        assert result.exit_code == 0, result.stderr
        assert f"process {sleeper.pid}" in result.report["interrupted"][0]["message"]
    finally:
        sleeper.kill()
        sleeper.wait()

    # This very process, but no longer working on it (its failure could not be logged).
    me = psutil.Process()
    _take_over(workspace, batch_id, host=here["host"], pid=me.pid, pid_started_at=me.create_time())
    result = recloop("ingest", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert "is no longer working on it" in result.report["interrupted"][0]["message"]
