"""The MLflow run of a training ends with the truth: FINISHED, FAILED or KILLED, never RUNNING.

Three ways a training stops early, and what happens to its MLflow run:

- **SIGTERM or SIGINT** (a scheduler cancelling, Ctrl-C): :func:`signals_interrupt` turns
  the signal into :class:`recloop.errors.Interrupted`; ``recloop.loop.train`` ends the run as
  ``KILLED``, tags why (``recloop.end_reason``), logs a warning, and the CLI exits
  128 + the signal's number (143, 130). The checkpoint stays: the same command resumes.
- **An exception**: MLflow's own ``with start_run()`` ends the run ``FAILED``.
- **SIGKILL, OOM killer, power loss**: nothing runs, so the run stays ``RUNNING``.
  Every training run therefore records its owner (host, pid, the process's start time)
  and a heartbeat (at start and after every epoch), and the next training in the same
  workspace ends such runs as ``FAILED`` with a ``recloop.end_reason``
  (:func:`reap_stale_runs`). The rule (:func:`stale_reason`):

  * owner on this host (same host name and pid namespace): stale as soon as no process
    with that pid *and that start time* exists (the start time tells a reused pid from the
    owner) — exact, no waiting;
  * owner on another host (a shared tracking server; pids there cannot be checked):
    stale when its last heartbeat is older than ``registry.stale_run_lease_hours``, which
    must exceed the longest epoch.

  Runs without owner tags (other tools, evaluation runs) are never touched.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recloop.errors import Interrupted
from recloop.processes import process_alive
from recloop.registry.tags import (
    TAG_END_REASON,
    TAG_HEARTBEAT,
    TAG_OWNER_HOST,
    TAG_OWNER_PID,
    TAG_OWNER_STARTED,
)
from recloop.settings import Settings

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def owner_tags() -> dict[str, str]:
    """Tags that let a later process tell whether this one is still alive."""
    import psutil

    me = psutil.Process()
    return {
        TAG_OWNER_HOST: this_host(),
        TAG_OWNER_PID: str(me.pid),
        TAG_OWNER_STARTED: f"{me.create_time():.3f}",
        TAG_HEARTBEAT: f"{time.time():.3f}",
    }


def this_host() -> str:
    """Where this process's pids mean something: the host name and, on Linux, the pid
    namespace (two containers sharing a host name cannot see each other's processes)."""
    name = socket.gethostname()
    try:
        return f"{name}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return name


def heartbeat(run_id: str) -> None:
    """Record that the run's owner is alive (called after every epoch).

    A tracking store that is briefly unreachable must not end a long training: the
    failure is logged and the next epoch tries again.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient().set_tag(run_id, TAG_HEARTBEAT, f"{time.time():.3f}")
    except MlflowException as exc:
        log.warning("could not record the heartbeat of MLflow run %s: %s", run_id, exc)


def stale_reason(
    tags: dict[str, str], *, now: float, lease_seconds: float, host: str | None = None
) -> str | None:
    """Why a RUNNING run with these tags is dead, or None when it may be alive.

    Args:
        tags: the run's tags (owner tags from :func:`owner_tags`).
        now: the current Unix time.
        lease_seconds: how long a run on another host may go without a heartbeat.
        host: this host (default: :func:`this_host`).
    """
    if TAG_OWNER_PID not in tags or TAG_OWNER_HOST not in tags:
        return None  # not started by recloop's training: its liveness is unknowable
    host = host or this_host()
    owner, pid = tags[TAG_OWNER_HOST], int(tags[TAG_OWNER_PID])
    if owner == host:
        if process_alive(pid, float(tags.get(TAG_OWNER_STARTED, "nan"))):
            return None
        return f"owner process {pid} on {owner} is gone (killed without a chance to clean up)"
    silent = now - float(tags.get(TAG_HEARTBEAT, "0"))
    if silent <= lease_seconds:
        return None
    return (
        f"no heartbeat from {owner} for {silent / 3600:.1f} h "
        f"(lease registry.stale_run_lease_hours = {lease_seconds / 3600:g} h)"
    )


def reap_stale_runs(settings: Settings, experiment_id: str) -> list[tuple[str, str]]:
    """End the experiment's dead RUNNING training runs as FAILED; returns (run id, reason).

    MLflow must already point at the workspace (``configure_mlflow``).
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    lease = settings.registry.stale_run_lease_hours * 3600
    now = time.time()
    reaped = []
    running = client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    for run in running:
        reason = stale_reason(run.data.tags, now=now, lease_seconds=lease)
        if reason is None:
            continue
        last_seen = float(run.data.tags.get(TAG_HEARTBEAT, now))
        client.set_tag(run.info.run_id, TAG_END_REASON, reason)
        client.set_terminated(run.info.run_id, "FAILED", end_time=int(last_seen * 1000))
        log.warning("ended stale MLflow run %s as FAILED: %s", run.info.run_id, reason)
        reaped.append((run.info.run_id, reason))
    return reaped


def end_killed(run_id: str, stop: Interrupted) -> None:
    """End the active run as KILLED because of ``stop``, with a tag and a log line."""
    import mlflow

    reason = f"interrupted by {stop.signal_name}"
    mlflow.set_tag(TAG_END_REASON, reason)
    mlflow.end_run("KILLED")
    log.warning(
        "training %s: MLflow run %s ended as KILLED; run the same command again to resume "
        "from the last checkpoint",
        reason,
        run_id,
    )


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """While active, SIGTERM and SIGINT raise :class:`Interrupted` in the main thread.

    The first signal raises; later ones are ignored until the block exits, so that the
    code unwinding from the first (ending the MLflow run) cannot itself be cut short.
    Outside the main thread (a Prefect task runner) signals cannot be handled; there the
    block does nothing and a killed run is reaped later instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: Any) -> None:
        for stop in STOP_SIGNALS:
            signal.signal(stop, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {stop: signal.signal(stop, interrupt) for stop in STOP_SIGNALS}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
