"""Registering a trained model as a new version, the ``challenger``, with its lineage.

The one way a model enters the registry (``recloop train`` and the continual loop both
reach it through ``recloop.loop.train.train_and_register``): the version gets the lineage
tags, its run gets the training data as a dataset input, and the ``challenger`` alias moves
onto it under the registry lock.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recloop import __version__
from recloop.errors import RecloopError
from recloop.registry.client import client
from recloop.registry.describe import LINEAGE_ARTIFACT, describe_version, window_dates
from recloop.registry.lock import registry_lock
from recloop.registry.tags import (
    TAG_BATCH_IDS,
    TAG_CODE_VERSION,
    TAG_DRIFT_RUN,
    TAG_FLOW_RUN_ID,
    TAG_FLOW_RUN_NAME,
    TAG_FLOW_RUN_URL,
    TAG_PARENT_VERSION,
    TAG_RUN_KEY,
    TAG_TRAIN_MODE,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
)
from recloop.serving.packaging import log_recommender
from recloop.settings import Settings
from recloop.tracking import run_metric_key

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CandidateLineage:
    """Where a candidate came from: a few version tags, run tags and ``recloop/lineage.json``."""

    train_mode: str  # "full" | "incremental"
    window_start: int | None
    window_end: int | None
    encoder_mode: str | None = None
    batch_ids: tuple[str, ...] = ()
    parent_version: str | None = None
    run_key: str | None = None  # the loop step's data window; None outside the loop
    # For the description (recloop.registry.describe): what a person wants to open.
    batches: tuple[dict[str, Any], ...] = ()  # {"batch_id", "file", "events"} per batch
    events: int | None = None  # training events in the window
    drift_run_id: str | None = None
    drift_experiment_id: str | None = None
    drift_verdict: str | None = None  # e.g. "drift detected: 3 features"
    flow_run_id: str | None = None
    flow_run_name: str | None = None
    flow_run_url: str | None = None

    def to_tags(self) -> dict[str, str]:
        """The version's tags: mode, window, parent, run key (few, namespaced)."""
        optional = {
            TAG_TRAIN_MODE: self.train_mode,
            TAG_WINDOW_START: self.window_start,
            TAG_WINDOW_END: self.window_end,
            TAG_PARENT_VERSION: self.parent_version,
            TAG_RUN_KEY: self.run_key,
        }
        return {k: str(v) for k, v in optional.items() if v is not None}

    def run_tags(self) -> dict[str, str]:
        """The training run's tags: batches, code version, drift and flow runs."""
        optional = {
            TAG_BATCH_IDS: ",".join(str(b) for b in self.batch_ids)[:5000] or None,
            TAG_CODE_VERSION: code_version(),
            TAG_DRIFT_RUN: self.drift_run_id,
            TAG_FLOW_RUN_ID: self.flow_run_id,
            TAG_FLOW_RUN_NAME: self.flow_run_name,
            TAG_FLOW_RUN_URL: self.flow_run_url,
        }
        return {k: str(v) for k, v in optional.items() if v}

    def facts(self) -> dict[str, Any]:
        """JSON facts for the description (``recloop/lineage.json`` on the run)."""
        out = asdict(self)
        out["batches"] = [dict(b) for b in self.batches]
        out["batch_ids"] = list(self.batch_ids)
        return out


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

    name = f"events {run_title(lineage)}"
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
    run of its own, named by mode and window. The version gets its few lineage tags and a
    description (``recloop.registry.describe``: "under evaluation", the training data, the
    links); the run gets the lineage facts (``recloop/lineage.json``), the batch and flow
    run tags, and the training data as a dataset input. Logging runs unlocked (it can
    take minutes); tagging, the alias move and the description hold the registry lock, so
    a concurrent promotion cannot drop the new ``challenger`` alias.

    Args:
        settings: recloop settings (registry section names the model and aliases).
        model_dir: a directory ``Recommender.load`` reads (the trainer's output).
        lineage: training mode, data window, batch ids, parent version, run key.
        train_events: the events the model was trained on (logged as a dataset input).
        metrics: metric dict with ``name@k`` keys (``recloop.tracking.run_metric_key``).
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
    run = mlflow.start_run(run_name=run_title(lineage)) if own_run else None
    try:
        active = mlflow.active_run().info
        run_id = active.run_id
        mlflow.set_tags(lineage.run_tags())
        if params:
            mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics({run_metric_key(k): float(v) for k, v in metrics.items()})
        if train_events is not None:
            log_training_data(train_events, lineage)
        facts = {**lineage.facts(), "run_id": run_id, "experiment_id": active.experiment_id}
        mlflow.log_dict(facts, LINEAGE_ARTIFACT)
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
        describe_version(settings, str(version))
    return RegisteredCandidate(str(version), run_id, f"models:/{name}/{version}", tags)


def run_title(lineage: CandidateLineage) -> str:
    """A run name a person reads: mode and data window as UTC dates.

    ``incremental 1998-02-14..1998-02-20`` (the window's last day, inclusive).
    """
    return f"{lineage.train_mode} {window_dates(lineage.window_start, lineage.window_end)}"
