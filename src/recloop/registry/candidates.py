"""Registering a trained model as a new version, the ``challenger``, with its lineage.

The one way a model enters the registry (``recloop train`` and the continual loop both
reach it through ``recloop.loop.train.train_and_register``): the version gets the lineage
tags, its run gets the training data as a dataset input, and the ``challenger`` alias moves
onto it under the registry lock.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recloop import __version__
from recloop.errors import RecloopError
from recloop.registry.client import client
from recloop.registry.lock import registry_lock
from recloop.registry.tags import (
    TAG_BATCH_IDS,
    TAG_CODE_VERSION,
    TAG_ENCODER_MODE,
    TAG_PARENT_VERSION,
    TAG_RUN_KEY,
    TAG_TRAIN_MODE,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
)
from recloop.serving.packaging import log_recommender
from recloop.settings import Settings
from recloop.tracking import metric_key

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CandidateLineage:
    """Where a candidate came from; written as model-version tags at registration."""

    train_mode: str  # "full" | "incremental"
    window_start: int | None
    window_end: int | None
    encoder_mode: str | None = None
    batch_ids: tuple[str, ...] = ()
    parent_version: str | None = None
    run_key: str | None = None  # the loop step's data window; None outside the loop

    def to_tags(self) -> dict[str, str]:
        tags = {
            TAG_TRAIN_MODE: self.train_mode,
            TAG_BATCH_IDS: ",".join(str(b) for b in self.batch_ids),
            TAG_CODE_VERSION: code_version(),
        }
        optional = {
            TAG_ENCODER_MODE: self.encoder_mode,
            TAG_WINDOW_START: self.window_start,
            TAG_WINDOW_END: self.window_end,
            TAG_PARENT_VERSION: self.parent_version,
            TAG_RUN_KEY: self.run_key,
        }
        tags.update({k: str(v) for k, v in optional.items() if v is not None})
        return tags


@dataclass
class RegisteredCandidate:
    """What :func:`register_candidate` created."""

    version: str
    run_id: str
    model_uri: str
    tags: dict[str, str] = field(default_factory=dict)


def code_version() -> str:
    """recloop's version plus the git commit of the source tree when there is one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+g{commit}" if commit else __version__


def log_training_data(events: pd.DataFrame, lineage: CandidateLineage) -> None:
    """Log the training events as an MLflow dataset input of the active run (lineage).

    MLflow stores the dataset's digest, schema and row count, not the rows: the events stay
    in recloop's store, where the window in the dataset name finds them again.
    """
    import mlflow  # heavy: imported when a model is registered
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.pandas_dataset import PandasDataset

    name = f"events[{lineage.window_start},{lineage.window_end})"
    # A code source (recloop's store query), not a URI: the store URL may hold credentials.
    source = CodeDatasetSource(
        {
            "recloop.source": "event store",
            "window_start": str(lineage.window_start),
            "window_end": str(lineage.window_end),
        }
    )
    dataset = PandasDataset(events, source=source, name=name)
    tags = {"batch_ids": ",".join(lineage.batch_ids)[:500], "train_mode": lineage.train_mode}
    mlflow.log_input(dataset, context="training", tags=tags)


# Long: mostly its docstring (the lineage contract); the body logs, then tags and moves the
# alias under the registry lock, in that order.
def register_candidate(
    settings: Settings,
    model_dir: str | Path,
    lineage: CandidateLineage,
    *,
    train_events: pd.DataFrame | None = None,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    log_model=None,
) -> RegisteredCandidate:
    """Log a trained model as a new registered version and make it the ``challenger``.

    Uses the active MLflow run when there is one (the training run), otherwise starts a
    run of its own. The version gets the lineage tags; the training data becomes the run's
    dataset input. Logging runs unlocked (it can take minutes); tagging and the alias move
    hold the registry lock, so a concurrent promotion cannot drop the new ``challenger``
    alias.

    Args:
        settings: recloop settings (registry section names the model and aliases).
        model_dir: a directory ``Recommender.load`` reads (the trainer's output).
        lineage: training mode, data window, batch ids, parent version, run key.
        train_events: the events the model was trained on (logged as a dataset input).
        metrics: metric dict with ``name@k`` keys (logged as ``name_at_k``).
        params: run parameters (training settings).
        log_model: ``(model_dir, registered_model_name) -> (model_uri, version)``; default
            ``recloop.serving.packaging.log_recommender``.

    Returns:
        RegisteredCandidate: version, run id and ``models:/name/version`` URI.
    """
    import mlflow  # heavy: imported when a model is registered

    if log_model is None:
        log_model = partial(log_recommender, serving=settings.serving)
    mlflow_client = client(settings)
    name = settings.registry.model_name
    own_run = mlflow.active_run() is None
    run = mlflow.start_run(run_name=f"candidate-{lineage.window_end}") if own_run else None
    try:
        run_id = mlflow.active_run().info.run_id
        mlflow.set_tags({k: v for k, v in lineage.to_tags().items() if v})
        if params:
            mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()})
        if train_events is not None:
            log_training_data(train_events, lineage)
        _, version = log_model(model_dir, registered_model_name=name)
    finally:
        if run is not None:
            mlflow.end_run()
    if version is None:
        raise RecloopError(f"logging {model_dir} registered no version of {name!r}")
    tags = lineage.to_tags()
    with registry_lock(settings):
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(name, str(version), key, value)
        mlflow_client.set_registered_model_alias(
            name, settings.registry.challenger_alias, str(version)
        )
    return RegisteredCandidate(str(version), run_id, f"models:/{name}/{version}", tags)
