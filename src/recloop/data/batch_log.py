"""The ingest log: one row per batch, written when the batch starts, closed when it ends.

A row's ``status`` moves once, from ``running`` to the batch's outcome:

- ``accepted`` / ``partial`` / ``duplicate`` / ``rejected``: committed in the same
  transaction as the batch's rows and quarantine, so the log never claims what the store
  does not hold;
- ``failed``: the ingest raised (the error is in ``message``);
- ``interrupted``: the process died (killed, power lost). The next ingest finds such rows
  and marks them, with the reason in ``message``.

A batch that failed or died left nothing in the store (its data transaction never
committed), so ingesting the same file again simply redoes it; ``attempts`` counts the
tries. ``batch_id`` is the batch's checksum (SHA-256 of kind and content) and ``source`` its
path.

How a dead process is told from a live one: each running row names its owner (host, pid,
and the process's start time, since the OS reuses pids). On the same host that is
certain: the owner is dead when no process with that pid and start time exists. A row
from another host (a worker sharing the PostgreSQL store) is presumed dead when its
heartbeat, which a live owner refreshes every ``ingest.heartbeat_seconds``, is older than
``ingest.lease_seconds``. SQLite gets no heartbeat: a write there would make the batch's
own long transaction fail on a stale snapshot, and a SQLite file is used from one host.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from recloop.data import schema
from recloop.errors import BatchInProgressError
from recloop.processes import process_alive
from recloop.settings import Settings

RUNNING = "running"
FINAL_STATUSES = ("accepted", "partial", "duplicate")  # a batch in one of these is not redone
# A batch in one of these is redone by the next ingest of the same content.
REDO_STATUSES = ("rejected", "failed", "interrupted")

# Batches this process is ingesting now. A running row owned by this very process is alive
# only if listed here (an earlier attempt whose failure could not be logged is not).
_ACTIVE: set[str] = set()
_ACTIVE_LOCK = threading.Lock()  # claims of one process (threads) take turns


@dataclass(frozen=True)
class Owner:
    """The process that runs a batch."""

    host: str
    pid: int
    started_at: float  # the process's start time (Unix seconds)

    @classmethod
    def current(cls) -> Owner:
        import psutil

        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time())

    def is_alive_here(self) -> bool:
        """Whether this process still runs (only meaningful on its own host)."""
        return process_alive(self.pid, self.started_at)


@dataclass(frozen=True)
class Claim:
    """The result of starting a batch: redo it (``prior`` was not final) or skip it."""

    prior: str | None  # the row's status before this attempt (None: first attempt)
    attempts: int

    @property
    def done_before(self) -> bool:
        return self.prior in FINAL_STATUSES


def start_batch(
    engine: sa.Engine,
    settings: Settings,
    batch_id: str,
    row: dict[str, Any],
) -> tuple[Claim, list[dict[str, str]]]:
    """Log a batch as ``running`` by this process, unless it is done or running elsewhere.

    First marks the rows of every batch whose process died ``interrupted``.

    Args:
        engine: the store.
        settings: ``ingest.lease_seconds`` for rows of other hosts.
        batch_id: the batch's checksum.
        row: ``kind``, ``source``, ``received`` and ``started_at`` of the batch.

    Returns:
        (Claim, interrupted): the claim is ``done_before`` when the batch was already
        ingested (nothing to do); otherwise the row is ours (status ``running``) and the
        batch must be processed. ``interrupted``: the rows just marked (``mark_interrupted``).

    Raises:
        BatchInProgressError: a live process is ingesting this very batch.
    """
    owner = Owner.current()
    lease = settings.ingest.lease_seconds
    with _ACTIVE_LOCK:
        with engine.begin() as connection:
            interrupted = mark_interrupted(connection, lease, owner)
        for _ in range(5):  # another process may insert or claim the row meanwhile
            try:
                with engine.begin() as connection:
                    claim = _claim(connection, batch_id, row, owner, lease)
            except sa.exc.IntegrityError:
                continue
            if claim is not None:
                if not claim.done_before:
                    _ACTIVE.add(batch_id)
                return claim, interrupted
    raise BatchInProgressError(f"batch {batch_id[:12]} ({row['source']}) keeps being claimed")


@contextmanager
def running(engine: sa.Engine, batch_id: str, heartbeat_seconds: float) -> Iterator[None]:
    """The span in which this process works on a claimed batch.

    Keeps its heartbeat going, and on any exception (an error, Ctrl-C) marks the row
    ``failed`` before letting it through; a killed process never gets that far, which is
    what ``mark_interrupted`` is for.
    """
    try:
        with heartbeat(engine, batch_id, heartbeat_seconds):
            yield
    except BaseException as exc:
        fail_batch(engine, batch_id, exc)
        raise
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(batch_id)


def _claim(
    connection: sa.Connection, batch_id: str, batch: dict[str, Any], owner: Owner, lease: float
) -> Claim | None:
    """Insert or take over the batch's row in one transaction; None: lost a race, retry."""
    log = schema.ingest_log
    row = connection.execute(sa.select(log).where(log.c.batch_id == batch_id)).mappings().first()
    fields = {
        **batch,
        "status": RUNNING,
        "accepted": 0,
        "quarantined": 0,
        "duplicates": 0,
        "reasons": "{}",
        "warnings": "{}",
        "finished_at": None,
        "seconds_read": None,
        "seconds_validate": None,
        "seconds_store": None,
        "message": None,
        "host": owner.host,
        "pid": owner.pid,
        "pid_started_at": owner.started_at,
        "heartbeat_at": time.time(),
        "stage": "validating",
    }
    if row is None:
        connection.execute(sa.insert(log).values(batch_id=batch_id, attempts=1, **fields))
        return Claim(None, 1)
    if row["status"] in FINAL_STATUSES:
        return Claim(row["status"], row["attempts"])
    if row["status"] == RUNNING and _death(row, owner, lease) is None:
        raise BatchInProgressError(
            f"batch {batch_id[:12]} ({row['source']}) is being ingested by process "
            f"{row['pid']} on {row['host']} since {_when(row['started_at'])}; "
            "run again when it has finished"
        )
    attempts = row["attempts"] + 1
    claimed = connection.execute(
        sa.update(log)
        .where(log.c.batch_id == batch_id, log.c.attempts == row["attempts"])
        .values(attempts=attempts, **fields)
    )
    return Claim(row["status"], attempts) if claimed.rowcount == 1 else None


def mark_interrupted(
    connection: sa.Connection, lease_seconds: float, owner: Owner | None = None
) -> list[dict[str, str]]:
    """Mark ``running`` rows whose process died as ``interrupted``, with the reason.

    Args:
        connection: the caller's transaction.
        lease_seconds: how long a row of another host may go without a heartbeat.
        owner: this process (default: ``Owner.current()``).

    Returns:
        list[dict]: ``batch_id``, ``source`` and ``message`` of each row marked.
    """
    owner = owner or Owner.current()
    log = schema.ingest_log
    rows = connection.execute(sa.select(log).where(log.c.status == RUNNING)).mappings().all()
    marked = []
    for row in rows:
        reason = _death(row, owner, lease_seconds)
        if reason is None:
            continue
        message = f"interrupted while {row['stage'] or 'starting'}: {reason}; nothing was stored"
        done = connection.execute(
            sa.update(log)
            .where(log.c.batch_id == row["batch_id"], log.c.attempts == row["attempts"])
            .where(log.c.status == RUNNING)
            .values(status="interrupted", message=message)
        )
        if done.rowcount == 1:
            marked.append(
                {"batch_id": row["batch_id"], "source": row["source"], "message": message}
            )
    return marked


def _death(row: Any, owner: Owner, lease: float) -> str | None:
    """Why the owner of a running row is dead, or None while it may be alive."""
    if row["host"] == owner.host:
        them = Owner(row["host"], row["pid"], row["pid_started_at"] or 0.0)
        if them == owner:
            if row["batch_id"] in _ACTIVE:
                return None
            return f"this process ({row['pid']}) is no longer working on it"
        if them.is_alive_here():
            return None
        return f"process {row['pid']} on {row['host']} is gone"
    silent = time.time() - (row["heartbeat_at"] or row["started_at"])
    if silent <= lease:
        return None
    return (
        f"no heartbeat from process {row['pid']} on {row['host']} for {silent:.0f} s "
        f"(lease {lease:.0f} s)"
    )


def set_stage(engine: sa.Engine, batch_id: str, stage: str) -> None:
    """Record where a running batch is (``validating``, ``storing``): shown if it dies."""
    log = schema.ingest_log
    with engine.begin() as connection:
        connection.execute(
            sa.update(log)
            .where(log.c.batch_id == batch_id, log.c.status == RUNNING)
            .values(stage=stage, heartbeat_at=time.time())
        )


def finish_batch(connection: sa.Connection, report: Any) -> None:
    """Close the batch's row with its outcome, in the caller's (the data's) transaction."""
    log = schema.ingest_log
    connection.execute(
        sa.update(log)
        .where(log.c.batch_id == report.batch_id)
        .values(
            kind=report.kind,
            source=report.source,
            status=report.status,
            received=report.received,
            accepted=report.accepted,
            quarantined=report.quarantined,
            duplicates=report.duplicates,
            reasons=json.dumps(report.reasons),
            warnings=json.dumps(report.warnings),
            finished_at=time.time(),
            seconds_read=report.seconds["read"],
            seconds_validate=report.seconds["validate"],
            seconds_store=report.seconds["store"],
            message=report.message,
            stage=None,
        )
    )


def fail_batch(engine: sa.Engine, batch_id: str, error: BaseException) -> None:
    """Mark our running row ``failed`` with the error; never raises (we are unwinding)."""
    log = schema.ingest_log
    message = f"failed: {type(error).__name__}: {error}".replace("\n", " ")[:2000]
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(log)
                .where(log.c.batch_id == batch_id, log.c.status == RUNNING)
                .where(log.c.pid == os.getpid(), log.c.host == socket.gethostname())
                .values(status="failed", message=message, finished_at=time.time())
            )
    except sa.exc.SQLAlchemyError:
        pass  # the store is unreachable: the row stays running and is found dead later


@contextmanager
def heartbeat(engine: sa.Engine, batch_id: str, every: float) -> Iterator[None]:
    """Refresh the running row's ``heartbeat_at`` every ``every`` seconds (server stores).

    A daemon thread with its own connection; failures (a lock, a lost connection) are
    skipped, the next beat tries again. Not on SQLite (see the module docstring).
    """
    if engine.dialect.name == "sqlite" or every <= 0:
        yield
        return
    stop = threading.Event()
    log = schema.ingest_log
    statement = (
        sa.update(log)
        .where(log.c.batch_id == batch_id, log.c.status == RUNNING, log.c.pid == os.getpid())
        .values(heartbeat_at=sa.bindparam("now"))
    )

    def beat() -> None:
        while not stop.wait(every):
            try:
                with engine.begin() as connection:
                    connection.execute(statement, {"now": time.time()})
            except sa.exc.SQLAlchemyError:
                continue

    thread = threading.Thread(target=beat, name=f"heartbeat-{batch_id[:12]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def list_batches(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` batches of the log (dead ``running`` ones marked first)."""
    from recloop.data.store import open_store

    log = schema.ingest_log
    engine = open_store(settings)
    with _ACTIVE_LOCK, engine.begin() as connection:
        mark_interrupted(connection, settings.ingest.lease_seconds)
    query = sa.select(log).order_by(log.c.started_at.desc()).limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        {**row, "reasons": json.loads(row["reasons"]), "warnings": json.loads(row["warnings"])}
        for row in rows
    ]


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
