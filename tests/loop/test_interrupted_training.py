"""A training stopped early leaves an honest MLflow run, and its resume counts every attempt.

Real processes: ``recloop train`` runs in a subprocess on a small MovieLens slice and is
signalled once its first checkpoint exists (the run is then RUNNING in MLflow).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TINY = {
    "RECLOOP_TRAIN__DEVICE": "cpu",
    "RECLOOP_TRAIN__HIDDEN_DIM": "8",
    "RECLOOP_TRAIN__NUM_LAYERS": "1",
    "RECLOOP_TRAIN__MAX_LEN": "10",
    "RECLOOP_TRAIN__EPOCHS": "1000",  # never ends by itself: the test stops it
    "RECLOOP_TRAIN__PATIENCE": "1000",
    "RECLOOP_INGEST__DATA_DOCS": "false",
}


@pytest.fixture
def store(workspace, movielens, monkeypatch):
    """The workspace with MovieLens' first 10 users and the films they rated ingested."""
    from recloop.data.ingest import ingest_frame

    for key, value in TINY.items():
        monkeypatch.setenv(key, value)
    events = movielens.events[movielens.events["user_id"] <= 10]
    items = movielens.items[movielens.items["item_id"].isin(events["item_id"])]
    ingest_frame(workspace, items, kind="items")
    ingest_frame(workspace, events, kind="events")
    return workspace


def _start_training(home: Path, log: Path) -> subprocess.Popen:
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "recloop.cli.main", "train", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "RECLOOP_HOME": str(home)},
        )


def _first_checkpoint(proc: subprocess.Popen, home: Path, log: Path) -> Path:
    """Wait until training has written a checkpoint (its MLflow run is RUNNING)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = list((home / "models").glob("*/checkpoint.pt"))
        if found:
            return found[0]
        assert proc.poll() is None, f"training ended early: {log.read_text()[-2000:]}"
        time.sleep(0.2)
    proc.kill()
    pytest.fail("no checkpoint within 300 s")


def _training_runs(settings) -> list:
    from mlflow import MlflowClient

    from recloop.tracking import configure_mlflow

    experiment = configure_mlflow(settings)
    runs = MlflowClient().search_runs([experiment], "tags.`recloop.stage` = 'train'")
    return sorted(runs, key=lambda run: run.info.start_time)


def test_sigterm_ends_the_mlflow_run_as_killed_and_keeps_the_checkpoint(store, tmp_path):
    log = tmp_path / "train.log"
    proc = _start_training(store.home, log)
    checkpoint = _first_checkpoint(proc, store.home, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    stderr = log.read_text()
    assert "Traceback" not in stderr and "internal error" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "interrupted by SIGTERM" in errors[0], stderr[-2000:]

    [run] = _training_runs(store)
    assert run.info.status == "KILLED"
    assert run.data.tags["recloop.end_reason"] == "interrupted by SIGTERM"
    assert run.info.run_id in errors[0]
    assert checkpoint.exists()  # the same command resumes


def test_sigkilled_run_is_ended_failed_by_the_next_training_which_resumes_and_counts_all_time(
    store, tmp_path
):
    import torch

    log = tmp_path / "train.log"
    proc = _start_training(store.home, log)
    checkpoint = _first_checkpoint(proc, store.home, log)
    proc.kill()  # SIGKILL: nothing in the process gets to run
    proc.wait(timeout=60)
    [killed] = _training_runs(store)
    assert killed.info.status == "RUNNING"  # what SIGKILL leaves behind
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    done, seconds_before = saved["epoch"], saved["train_seconds"]
    assert done >= 1 and seconds_before > 0

    # Resume with a cap one epoch past the checkpoint (the cap may change on resume).
    env = {**os.environ, "RECLOOP_HOME": str(store.home), "RECLOOP_TRAIN__EPOCHS": str(done + 1)}
    resumed = subprocess.run(
        [sys.executable, "-m", "recloop.cli.main", "train", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert (result["attempts"], result["resumed_from_epoch"]) == (2, done)
    assert result["epochs"] == done + 1
    assert result["train_seconds"] > seconds_before  # the killed attempt's time is counted
    assert f"ended stale MLflow run {killed.info.run_id} as FAILED" in resumed.stderr

    old, new = _training_runs(store)
    assert old.info.run_id == killed.info.run_id and old.info.status == "FAILED"
    assert "is gone" in old.data.tags["recloop.end_reason"]
    assert new.info.status == "FINISHED"
    assert new.data.tags["recloop.resumed"] == "true"
    assert (new.data.tags["recloop.attempts"], new.data.tags["recloop.resumed_from_epoch"]) == (
        "2",
        str(done),
    )
    assert new.data.metrics["diag/train_seconds"] == pytest.approx(result["train_seconds"])
    config = json.loads(Path(result["model_dir"], "config.json").read_text())
    assert (config["attempts"], config["train_seconds"]) == (2, result["train_seconds"])


def test_sigint_and_sigterm_become_interrupted_with_the_shell_exit_code():
    from recloop.errors import Interrupted
    from recloop.loop.run_lifecycle import signals_interrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(signum)
        with pytest.raises(Interrupted) as caught, signals_interrupt():
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises before this ends
        assert (caught.value.signum, caught.value.exit_code) == (signum, 128 + signum)
        assert signal.getsignal(signum) is before  # handlers restored


def test_stale_rule_pid_on_this_host_and_heartbeat_lease_elsewhere():
    import psutil

    from recloop.loop.run_lifecycle import owner_tags, stale_reason

    now = time.time()
    mine = owner_tags()
    assert stale_reason(mine, now=now, lease_seconds=60) is None  # this very process
    reused = {**mine, "recloop.owner_started": str(psutil.Process().create_time() - 3600)}
    assert "is gone" in stale_reason(reused, now=now, lease_seconds=60)  # a reused pid
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = {**mine, "recloop.owner_pid": str(child.pid)}
    assert "is gone" in stale_reason(dead, now=now, lease_seconds=60)

    elsewhere = {**mine, "recloop.owner_host": "another-host"}
    assert (
        stale_reason({**elsewhere, "recloop.heartbeat": str(now - 30)}, now=now, lease_seconds=60)
        is None
    )
    late = stale_reason(
        {**elsewhere, "recloop.heartbeat": str(now - 7200)}, now=now, lease_seconds=60
    )
    assert late is not None and "no heartbeat from another-host" in late
    assert stale_reason({"mlflow.user": "someone"}, now=now, lease_seconds=0) is None  # not ours
