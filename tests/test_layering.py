"""The stages' import rules hold: import-linter's contracts in pyproject.toml.

``lint-imports`` (import-linter, on grimp's graph, which counts imports inside functions
too) checks that the stage packages are layered (the loop composes the stages; no stage
imports the loop or the CLI), that no package's modules import each other in a cycle, that
training knows neither MLflow nor the registry, and that only the loop and notify import
Prefect. The same check on copies of the package with one rule broken proves it can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import recloop

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(recloop.__file__).resolve().parent
# `lint-imports` as the current interpreter runs it (import-linter has no `python -m`).
LINT = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the repository's contracts on the package under ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_package_keeps_every_import_contract():
    proc = lint_imports(PACKAGE.parent)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("data/datasets.py", "import recloop.loop.step", "Stages are layered"),
        ("gate/policy.py", "import recloop.gate.record", "No import cycles"),
        ("training/sequences.py", "import mlflow", "Training trains"),
        ("registry/tags.py", "import prefect", "Prefect is the loop's"),
    ],
    ids=["stage-imports-loop", "cycle-in-gate", "training-imports-mlflow", "registry-prefect"],
)
def test_a_broken_rule_fails_the_check(tmp_path, module, line, contract):
    copy = tmp_path / "recloop"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n\ndef _broken() -> None:\n    {line}  # noqa\n")
    proc = lint_imports(tmp_path)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    broken = proc.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
