"""One writer in the registry: concurrent ``recloop promote``/``rollback`` processes, on the
SQLite and the PostgreSQL event store, keep aliases and history consistent; a busy lock
and a broken target are refused with one line and change nothing.

Every command runs as a real ``python -m recloop.cli.main`` process on a shared workspace
whose versions are tiny pyfuncs with a weights file (registered in about a second each).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import asdict
from itertools import pairwise

import pytest

from recloop import registry
from recloop.registry import CandidateLineage

from .cli_processes import (
    cli_env,
    finish,
    log_weights_pyfunc,
    registry_state,
    run_all,
    start,
    stored_model_dir,
)

pytestmark = pytest.mark.slow  # each case starts several Python processes


@pytest.fixture
def store_settings(settings, store_url: str, monkeypatch: pytest.MonkeyPatch):
    """The registry test settings on a fresh event store (SQLite file or PostgreSQL DB)."""
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    return settings.with_overrides({"database_url": store_url})


def register_versions(settings, tmp_path, n: int, *, passed: bool = True) -> list[str]:
    versions = []
    for i in range(1, n + 1):
        lineage = CandidateLineage("full", 100 * i, 100 * i + 100, "frozen", (f"b{i}",))
        version = registry.register_candidate(
            settings, tmp_path / f"model-{i}", lineage, log_model=log_weights_pyfunc
        ).version
        if passed:
            registry.set_version_tags(
                settings, version, {registry.TAG_GATE_DECISION: registry.PASSED}
            )
        versions.append(version)
    return versions


def assert_consistent(settings) -> list[registry.HistoryEntry]:
    """Each entry replaced the champion before it; the aliases match the history."""
    state = registry_state(settings)
    history = state["history"]
    for before, after in pairwise(history):
        assert after.replaced == before.version, (before, after)
    stack = registry.champion_stack(history)
    assert state["champion"] == stack[-1] == history[-1].version
    assert state["previous"] == (stack[-2] if len(stack) >= 2 else None)
    return history


def test_concurrent_promotes_and_rollbacks_serialize(store_settings, tmp_path):
    settings = store_settings
    v1, v2, v3, v4, v5 = register_versions(settings, tmp_path, 5)
    registry.promote(settings, v1)
    registry.promote(settings, v2)
    before = len(registry.promotion_history(settings))

    commands = [
        ["promote", v3],
        ["rollback", "--reason", "first"],
        ["promote", v4],
        ["promote", v5],
        ["rollback", "--reason", "second"],
        ["promote", v1, "--force", "--reason", "operator"],
    ]
    done = run_all(settings, commands)

    ok = [d for d in done if d.returncode == 0]
    for d in done:
        assert d.returncode in (0, 2), (d.args, d.stderr)
        if d.returncode == 2:  # a legitimate refusal given the order the lock chose
            assert len(d.error_lines) == 1, d.stderr
            assert "already the champion" in d.stderr or "nothing to roll back" in d.stderr
    assert len(ok) >= 3, [(d.args, d.stderr) for d in done]

    history = assert_consistent(settings)
    assert len(history) == before + len(ok)
    recorded = [asdict(e) for e in history[before:]]
    assert sorted(recorded, key=str) == sorted((d.payload for d in ok), key=str)


def test_a_busy_lock_times_out_with_one_line_and_changes_nothing(store_settings, tmp_path):
    from recloop.registry.lock import registry_lock

    settings = store_settings
    v1, v2 = register_versions(settings, tmp_path, 2)
    registry.promote(settings, v1)
    state = registry_state(settings)

    with registry_lock(settings):
        started = time.monotonic()
        done = run_all(
            settings, [["promote", v2], ["rollback"]], RECLOOP_REGISTRY__LOCK_TIMEOUT_SECONDS="1"
        )
        waited = time.monotonic() - started
    for d in done:
        assert d.returncode == 2, (d.args, d.stderr)
        assert d.stdout == ""
        assert len(d.error_lines) == 1 and "registry is busy" in d.stderr, d.stderr
    assert waited < 120
    assert registry_state(settings) == state


HOLD_LOCK = """
import sys, time
from recloop.registry.lock import registry_lock
from recloop.settings import Settings
with registry_lock(Settings()):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_does_not_block_the_next_change(store_settings, tmp_path):
    settings = store_settings
    v1, v2 = register_versions(settings, tmp_path, 2)
    registry.promote(settings, v1)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        blocked = finish(
            start(settings, ["promote", v2], RECLOOP_REGISTRY__LOCK_TIMEOUT_SECONDS="1")
        )
        assert blocked.returncode == 2 and "registry is busy" in blocked.stderr
        holder.send_signal(signal.SIGKILL)  # dies holding the lock: no cleanup runs
        holder.wait(timeout=30)
        after = finish(
            start(settings, ["promote", v2], RECLOOP_REGISTRY__LOCK_TIMEOUT_SECONDS="30")
        )
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert after.returncode == 0, after.stderr
    assert after.payload["version"] == v2 and after.payload["replaced"] == v1
    assert_consistent(settings)


def delete_artifacts(settings, version: str) -> None:
    import shutil

    shutil.rmtree(stored_model_dir(settings, version))


def truncate_weights(settings, version: str) -> None:
    (weights,) = stored_model_dir(settings, version).rglob("*.safetensors")
    size = weights.stat().st_size
    with weights.open("r+b") as handle:
        handle.truncate(size // 2)


@pytest.mark.parametrize("breakage", [delete_artifacts, truncate_weights])
def test_forced_promotion_and_rollback_onto_a_broken_version_are_refused(
    settings, tmp_path, breakage
):
    broken, healthy = register_versions(settings, tmp_path, 2)
    registry.promote(settings, broken)
    registry.promote(settings, healthy)  # previous = broken: the rollback target
    breakage(settings, broken)
    state = registry_state(settings)
    assert state["previous"] == broken

    done = run_all(settings, [["rollback"], ["promote", broken, "--force", "--reason", "x"]])

    for d in done:
        assert d.returncode == 2, (d.args, d.stderr)
        assert d.stdout == ""
        assert len(d.error_lines) == 1, d.stderr
        assert f"version {broken} cannot serve" in d.stderr
    assert registry_state(settings) == state
    assert registry.get_version(settings, broken).tags[registry.TAG_GATE_DECISION] == "passed"
