"""``recloop status / promote / rollback`` on a real MLflow store (one DB for the module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hypothesis import HealthCheck, given
from hypothesis import settings as settings_profile
from hypothesis import strategies as st
from typer.testing import CliRunner

from recloop import registry
from recloop.cli.main import app

from .test_registry import mark_passed, register

# One model name per test, not per example: every example sees the same (empty) registry.
FIXTURE_CHECKS = [HealthCheck.function_scoped_fixture]


def run_json(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_status_promote_rollback_round_trip(settings, tmp_path):
    empty = run_json("status")
    assert empty["champion"] is None and empty["challenger"] is None
    assert empty["previous"] is None and empty["last_decision"] is None

    v1 = register(settings, tmp_path, 1).version
    mark_passed(settings, v1)
    run_json("promote", v1)
    v2 = register(settings, tmp_path, 2, parent=v1).version
    forced = run_json("promote", v2, "--force", "--reason", "hotfix for incident 7")
    assert forced["forced"] is True and forced["replaced"] == v1

    drift_dir = settings.reports_dir / "drift"
    drift_dir.mkdir(parents=True, exist_ok=True)
    (drift_dir / "drift_2026-11-24.json").write_text(json.dumps({"drift_detected": True}))
    state = run_json("status")
    assert state["champion"]["version"] == v2 and state["champion"]["run_id"]
    assert state["champion"]["gate_decision"] == "forced"
    assert state["previous"]["version"] == v1
    assert state["last_drift"]["drift_detected"] is True
    assert state["model_age"]["seconds_since_promoted"] >= 0
    assert [h["version"] for h in state["history"]] == [v1, v2]

    back = run_json("rollback")
    assert (back["version"], back["replaced"]) == (v1, v2)
    assert run_json("status")["champion"]["version"] == v1


def test_unknown_version_is_one_line_exit_2(settings):
    env = {**os.environ, "RECLOOP_HOME": str(settings.home)}
    cmd = [sys.executable, "-m", "recloop.cli.main", "promote", "41", "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no version 41" in lines[0]

    result = CliRunner().invoke(app, ["rollback"])
    assert result.exit_code == 2
    assert "nothing to roll back to" in result.output
    assert registry.get_champion(settings) is None


@settings_profile(max_examples=30, deadline=None, suppress_health_check=FIXTURE_CHECKS)
# An argument that starts with "-" is parsed by Click as an option: a usage error (exit 2)
# printed as Click's multi-line usage text, not by recloop; those are left out here.
@given(version=st.text(max_size=12).filter(lambda text: not text.startswith("-")))
def test_any_version_argument_of_an_empty_registry_is_one_line_exit_2(settings, version):
    """Whatever the operator types (digits of any script, NUL, nothing): a refusal."""
    result = CliRunner().invoke(app, ["promote", version, "--json"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert registry.get_champion(settings) is None


def test_an_unreachable_store_refuses_with_one_line(settings, tmp_path, monkeypatch):
    v1 = register(settings, tmp_path, 1).version
    mark_passed(settings, v1)
    monkeypatch.setenv("RECLOOP_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    result = CliRunner().invoke(app, ["promote", v1, "--json"])
    assert result.exit_code == 2, result.output
    assert "store is unreachable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert registry.get_champion(settings) is None
