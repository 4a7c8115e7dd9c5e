"""Importing recloop sets process defaults that must precede torch's import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _policy_after_import(env: dict[str, str]) -> str:
    code = "import os, recloop; print(os.environ['OMP_WAIT_POLICY'])"
    env = {**env, "PYTHONPATH": str(SRC)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_openmp_threads_wait_passively_unless_the_environment_says_otherwise():
    """Spinning OpenMP threads starve each other on shared cores (see recloop/__init__)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy_after_import(env) == "PASSIVE"
    assert _policy_after_import({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
