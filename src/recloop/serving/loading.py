"""Find a model directory from what an operator gives: a folder or an MLflow model URI."""

from __future__ import annotations

import os
from pathlib import Path

from recloop.errors import NotFoundError
from recloop.model.artifacts import CONFIG_FILE, WEIGHTS_FILE


def find_model_dir(root: Path) -> Path | None:
    """The recloop model directory at or below ``root`` (a pyfunc keeps it under artifacts/)."""
    if (root / CONFIG_FILE).exists() and (root / WEIGHTS_FILE).exists():
        return root
    for config in sorted(root.rglob(CONFIG_FILE)):
        if (config.parent / WEIGHTS_FILE).exists():
            return config.parent
    return None


def resolve_model_dir(model_uri_or_dir: str) -> Path:
    """A local model directory for a folder, ``models:/name@alias``, ``models:/name/3``,
    ``runs:/...`` or ``models:/m-<id>`` (downloaded once per call to a temporary folder).

    MLflow must already point at the right tracking store (``configure_mlflow``).
    """
    local = Path(model_uri_or_dir).expanduser()
    if local.exists():
        found = find_model_dir(local)
        if found is None:
            raise NotFoundError(f"{model_uri_or_dir} holds no recloop model")
        return found
    if ":" not in model_uri_or_dir:
        raise NotFoundError(f"model {model_uri_or_dir!r} not found (neither a folder nor a URI)")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import tempfile

    import mlflow
    from mlflow.exceptions import MlflowException

    target = tempfile.mkdtemp(prefix="recloop-model-")
    try:
        path = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=model_uri_or_dir, dst_path=target)
        )
    except MlflowException as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotFoundError(f"cannot load model {model_uri_or_dir}: {first}") from None
    found = find_model_dir(path)
    if found is None:
        raise NotFoundError(f"{model_uri_or_dir} is not a recloop model")
    return found
