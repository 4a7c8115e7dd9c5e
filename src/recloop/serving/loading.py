"""Find a model directory from what an operator gives: a folder or an MLflow model URI.

A URI is downloaded to a temporary folder that lives only as long as the ``with`` block of
:func:`local_model_dir`: loaders read what they need into memory inside it, so no
download is left behind. The URI is resolved against the workspace's MLflow store (never
MLflow's default ``./mlflow.db`` in the current directory).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recloop.errors import NotFoundError
from recloop.model.artifacts import CONFIG_FILE, WEIGHTS_FILE
from recloop.settings import Settings

DOWNLOAD_PREFIX = "recloop-model-"


def find_model_dir(root: Path) -> Path | None:
    """The recloop model directory at or below ``root`` (a pyfunc keeps it under artifacts/)."""
    if (root / CONFIG_FILE).exists() and (root / WEIGHTS_FILE).exists():
        return root
    for config in sorted(root.rglob(CONFIG_FILE)):
        if (config.parent / WEIGHTS_FILE).exists():
            return config.parent
    return None


def point_mlflow_at_workspace(settings: Settings | None) -> None:
    """Make MLflow resolve URIs in ``settings``' store; without settings, keep a store the
    process already chose, else use the workspace of the environment (``RECLOOP_HOME``)."""
    import mlflow

    if settings is None:
        if mlflow.is_tracking_uri_set():
            return
        settings = Settings()
    # Reading needs only the store (configure_mlflow also selects the experiment to log to).
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri.get_secret_value())
    mlflow.set_registry_uri(settings.mlflow_tracking_uri.get_secret_value())


@contextmanager
def local_model_dir(
    model_uri_or_dir: str | Path, settings: Settings | None = None
) -> Iterator[Path]:
    """A local model directory for a folder, ``models:/name@alias``, ``models:/name/3``,
    ``runs:/...`` or ``models:/m-<id>``, valid inside the ``with`` block.

    Args:
        model_uri_or_dir: a model folder (used in place) or an MLflow model URI.
        settings: the workspace whose MLflow store resolves a URI (default: the store the
            process already points MLflow at, else the workspace of the environment).

    Yields:
        Path: the recloop model directory; a download is deleted when the block ends.
    """
    local = Path(model_uri_or_dir).expanduser()
    if local.exists():
        found = find_model_dir(local)
        if found is None:
            raise NotFoundError(f"{model_uri_or_dir} holds no recloop model")
        yield found
        return
    uri = str(model_uri_or_dir)
    if ":" not in uri:
        raise NotFoundError(f"model {uri!r} not found (neither a folder nor a URI)")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.exceptions import MlflowException

    point_mlflow_at_workspace(settings)
    with tempfile.TemporaryDirectory(prefix=DOWNLOAD_PREFIX) as target:
        try:
            path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=target))
        except MlflowException as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise NotFoundError(f"cannot load model {uri}: {first}") from None
        found = find_model_dir(path)
        if found is None:
            raise NotFoundError(f"{uri} is not a recloop model")
        yield found


@contextmanager
def local_pyfunc(model_uri_or_dir: str | Path, settings: Settings | None = None) -> Iterator[Any]:
    """The MLflow pyfunc of a logged model (URI or downloaded folder), loaded from a
    download that lives as long as the ``with`` block (a model server's lifetime).

    Args:
        model_uri_or_dir: ``models:/name@alias``, ``models:/name/3``, ``runs:/...``, or a
            folder holding a pyfunc's ``MLmodel``.
        settings: the workspace whose MLflow store resolves a URI (as :func:`local_model_dir`).

    Yields:
        mlflow.pyfunc.PyFuncModel: with ``MLFLOW_PYFUNC_INFERENCE_CONFIG`` applied.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow.exceptions import MlflowException

    local = Path(model_uri_or_dir).expanduser()
    if not local.exists():
        if ":" not in str(model_uri_or_dir):
            raise NotFoundError(
                f"model {model_uri_or_dir!s} not found (neither a folder nor a URI)"
            )
        point_mlflow_at_workspace(settings)
    with tempfile.TemporaryDirectory(prefix=DOWNLOAD_PREFIX) as target:
        try:
            if not local.exists():
                local = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=str(model_uri_or_dir), dst_path=target
                    )
                )
            model = mlflow.pyfunc.load_model(str(local))
        except MlflowException as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise NotFoundError(f"cannot load model {model_uri_or_dir}: {first}") from None
        yield model
