"""Helpers of the lock tests: registry CLI commands as real, concurrent processes, and a
tiny pyfunc whose weights live in a file (so deleting or truncating it breaks the model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from recloop import registry

REPO_SRC = Path(__file__).resolve().parents[2] / "src"
WEIGHTS_ARTIFACT = "weights"


@dataclass
class Finished:
    """One CLI process: its arguments, exit code, stdout and stderr."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def payload(self) -> dict:
        """The ``--json`` object (the last stdout line)."""
        return json.loads(self.stdout.strip().splitlines()[-1])

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.strip().splitlines()


def cli_env(settings, **extra: str) -> dict[str, str]:
    """The environment of a CLI process on ``settings``' workspace, store and model name."""
    env = {
        **os.environ,
        "RECLOOP_HOME": str(settings.home),
        "RECLOOP_REGISTRY__MODEL_NAME": settings.registry.model_name,
        "PYTHONPATH": os.pathsep.join([str(REPO_SRC), os.environ.get("PYTHONPATH", "")]),
        **extra,
    }
    if settings.database_url:
        env["RECLOOP_DATABASE_URL"] = settings.database_url.get_secret_value()
    return env


def start(settings, args: list[str], **extra: str) -> subprocess.Popen:
    """Start ``recloop ARGS --json`` in a new Python process."""
    cmd = [sys.executable, "-m", "recloop.cli.main", *args, "--json"]
    return subprocess.Popen(
        cmd,
        env=cli_env(settings, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> Finished:
    stdout, stderr = proc.communicate(timeout=timeout)
    return Finished(list(proc.args[3:-1]), proc.returncode, stdout, stderr)


def run_all(settings, commands: list[list[str]], **extra: str) -> list[Finished]:
    """Start every command at once, then wait for all of them."""
    procs = [start(settings, args, **extra) for args in commands]
    return [finish(proc) for proc in procs]


def log_weights_pyfunc(model_dir, *, registered_model_name):
    """A pyfunc that reads its weights (a safetensors file) in ``load_context``.

    Same contract as ``recloop.serving.packaging.log_recommender``; recommends the three
    items with the largest weights, with their weights as scores.
    """
    import mlflow
    import numpy as np
    from safetensors.numpy import save_file

    class TopWeights(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            from safetensors.numpy import load_file

            self.weights = load_file(context.artifacts[WEIGHTS_ARTIFACT])["w"]

        def predict(self, context, model_input, params=None):
            import pandas as pd

            top = np.argsort(-self.weights)[:3]
            row = {"items": top.tolist(), "scores": self.weights[top].tolist()}
            return pd.DataFrame([row] * len(model_input))

    weights = Path(model_dir) / "model.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({"w": np.random.default_rng(0).random(64).astype("float32")}, str(weights))
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=TopWeights(),
        artifacts={WEIGHTS_ARTIFACT: str(weights)},
        pip_requirements=["mlflow", "pandas", "safetensors"],
        registered_model_name=registered_model_name,
    )
    return info.model_uri, info.registered_model_version


def stored_model_dir(settings, version: str) -> Path:
    """Where the registry keeps ``version``'s artifacts (a local directory in tests)."""
    from mlflow import MlflowClient

    from recloop.tracking import configure_mlflow

    configure_mlflow(settings)
    uri = MlflowClient().get_model_version_download_uri(settings.registry.model_name, version)
    path = Path(uri.removeprefix("file://"))
    assert path.is_dir(), uri
    return path


def registry_state(settings) -> dict:
    """Champion, previous and the whole history, for before/after comparisons."""
    champion = registry.get_champion(settings)
    previous = registry.get_alias(settings, settings.registry.previous_alias)
    return {
        "champion": champion.version if champion else None,
        "previous": previous.version if previous else None,
        "history": registry.promotion_history(settings),
    }
