"""``mlflow/MLproject``: MLflow can load it, and each entry point calls a real recloop command.

The project is loaded with MLflow's own loader and each command is computed from its default
parameters, as ``mlflow run`` would; the recloop command and every option it passes must
exist in the CLI (checked on the Typer app, without running anything heavy).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2] / "mlflow"


@pytest.fixture(scope="module")
def project():
    from mlflow.projects._project_spec import load_project

    return load_project(str(PROJECT_DIR))


@pytest.fixture(scope="module")
def cli():
    import typer

    from recloop.cli.main import app

    return typer.main.get_command(app)


def test_project_is_named_and_uses_the_local_environment(project):
    assert project.name == "recloop"
    assert project.env_type == "python" or project.env_config_path is None
    assert set(project._entry_points) == {"train", "evaluate", "simulate"}


@pytest.mark.parametrize("entry_point", ["simulate", "train", "evaluate"])
def test_entry_point_runs_an_existing_recloop_command(project, cli, entry_point, tmp_path):
    command = project.get_entry_point(entry_point).compute_command({}, str(tmp_path))
    words = shlex.split(command)
    # `env -u MLFLOW_RUN_ID -u MLFLOW_EXPERIMENT_ID recloop ...`: recloop logs its own runs.
    assert words[:5] == ["env", "-u", "MLFLOW_RUN_ID", "-u", "MLFLOW_EXPERIMENT_ID"]
    assert words[5] == "recloop"
    name, args = words[6], words[7:]
    assert name == entry_point
    assert name in cli.commands, f"`recloop {name}` does not exist (yet)"
    known = {opt for param in cli.commands[name].params for opt in param.opts}
    used = {arg for arg in args if arg.startswith("--")}
    assert used <= known, f"recloop {name} has no option(s) {sorted(used - known)}"
