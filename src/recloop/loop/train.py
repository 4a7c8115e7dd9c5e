"""The one way to train a model and register it, for ``recloop train`` and the loop's step.

``recloop.training`` trains (a model directory and its metrics; it knows neither MLflow nor
the registry) and ``recloop.registry.register_candidate`` registers (a new version, its
lineage tags, the ``challenger`` alias). :func:`train_and_register` opens the MLflow run
around both, so every training is logged the same way whoever asked for it:

- stale RUNNING runs of killed trainings are ended first (``run_lifecycle.reap_stale_runs``);
- the run records its owner and a heartbeat after every epoch, and SIGTERM/SIGINT end it
  as KILLED with the checkpoint kept for a resume (``run_lifecycle``);
- parameters, per-epoch and final metrics (``name@k`` logged as ``name_at_k``), resume
  facts and the training data as a dataset input are logged; the model is registered.

Callers differ only in the :class:`TrainingJob` they build: the loop's from its step plan
(``recloop.loop.stages.train_candidate``), ``recloop train``'s from the whole store
(:func:`store_training_job`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from recloop.columns import TIMESTAMP_COL
from recloop.data.store import load_events, load_items
from recloop.errors import Interrupted, NotFoundError, UnusableInputError
from recloop.evaluation.protocols import leave_one_out
from recloop.loop.run_lifecycle import (
    end_killed,
    heartbeat,
    owner_tags,
    reap_stale_runs,
    signals_interrupt,
)
from recloop.registry import CandidateLineage, latest_version, register_candidate
from recloop.registry.tags import TAG_ATTEMPTS, TAG_RESUMED, TAG_RESUMED_FROM_EPOCH, TAG_STAGE
from recloop.settings import Settings
from recloop.tracking import configure_mlflow, metric_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingJob:
    """What one training learns from, and the lineage its registered version gets."""

    events: pd.DataFrame  # the window to learn (its targets)
    items: pd.DataFrame
    lineage: CandidateLineage  # mode, window, batch ids, parent version, run key
    init_from: str | None = None  # the parent's model URI: warm start (incremental)
    replay_events: pd.DataFrame | None = None  # older events: context and replay pool
    valid_events: pd.DataFrame | None = None  # early stopping (None: last event per user)
    params: dict[str, Any] = field(default_factory=dict)  # logged as run parameters
    run_name: str = "train"


@dataclass
class Candidate:
    """A trained and registered challenger (``reused``: an earlier run of the same window's)."""

    version: str
    model_uri: str
    run_id: str | None
    train_seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    reused: bool = False
    model_dir: str | None = None
    train_mode: str | None = None
    epochs: int = 0
    attempts: int = 1  # >1: resumed from a checkpoint of an interrupted training
    resumed_from_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Long: the MLflow run's whole life (reap stale runs, open, train, log, register, end as
# KILLED on a signal) in one place, so no run is ever left RUNNING.
def train_and_register(
    settings: Settings, job: TrainingJob, *, show_progress: bool = False
) -> Candidate | None:
    """Train ``job`` inside one MLflow run and register the model as the ``challenger``.

    Returns None on the non-zero ranks of a multi-GPU run (every rank trains; rank 0 logs
    and registers).

    Raises:
        Interrupted: SIGTERM or SIGINT stopped the training; its run ended as KILLED.
    """
    import mlflow  # mlflow takes seconds to import; the CLI imports this module lazily

    from recloop.training.trainer import is_main_process, train_recommender  # torch

    def train(**extra: Any):
        return train_recommender(
            settings,
            job.events,
            job.items,
            init_from=job.init_from,
            replay_events=job.replay_events,
            valid_events=job.valid_events,
            **extra,
        )

    if not is_main_process():
        train()
        return None
    experiment_id = configure_mlflow(settings)
    reap_stale_runs(settings, experiment_id)  # runs of trainings killed with SIGKILL
    with signals_interrupt(), mlflow.start_run(run_name=job.run_name) as run:
        run_id = run.info.run_id
        try:
            mlflow.set_tags({TAG_STAGE: "train", **owner_tags()})
            mlflow.log_params(job.params)
            result = train(
                show_progress=show_progress,
                on_epoch_end=lambda _epoch, _metrics: heartbeat(run_id),
            )
            log_training_result(result)
            registered = register_candidate(
                settings, result.model_dir, job.lineage, train_events=job.events
            )
        except Interrupted as stop:
            end_killed(run_id, stop)
            raise Interrupted(
                stop.signum,
                f"training interrupted by {stop.signal_name}: MLflow run {run_id} "
                "ended as KILLED; the same command resumes from the last checkpoint",
            ) from None
    return Candidate(
        version=registered.version,
        model_uri=registered.model_uri,
        run_id=run_id,
        train_seconds=result.train_seconds,
        metrics=dict(result.metrics),
        model_dir=str(result.model_dir),
        train_mode=job.lineage.train_mode,
        epochs=result.epochs,
        attempts=result.attempts,
        resumed_from_epoch=result.resumed_from_epoch,
    )


def log_training_result(result: Any) -> None:
    """Per-epoch and final metrics, and the resume facts, into the active run.

    Args:
        result: the trainer's ``TrainResult``.
    """
    import mlflow  # heavy; see train_and_register

    mlflow.set_tags(
        {
            TAG_RESUMED: str(result.attempts > 1).lower(),
            TAG_ATTEMPTS: str(result.attempts),
            TAG_RESUMED_FROM_EPOCH: str(result.resumed_from_epoch),
        }
    )
    for row in result.history:
        step = int(row["epoch"])
        mlflow.log_metrics({metric_key(k): v for k, v in row.items() if k != "epoch"}, step=step)
    final = {metric_key(k): v for k, v in result.metrics.items() if k != "epoch"}
    mlflow.log_metrics(
        {
            **final,
            "train_seconds": result.train_seconds,
            "epochs": result.epochs,
            "new_item_boost": result.new_item_boost,
        }
    )


def training_params(
    settings: Settings, mode: str, parent_uri: str | None, **extra: Any
) -> dict[str, Any]:
    """Run parameters: the training settings (lists left out), mode, parent and ``extra``."""
    cfg = settings.train.model_dump()
    keep = {k: v for k, v in cfg.items() if not isinstance(v, list)}
    return {**keep, "train_mode": mode, "parent_model": parent_uri, **extra}


def store_training_job(
    settings: Settings, mode: str = "full", holdout: str = "none"
) -> TrainingJob:
    """``recloop train``'s job: every stored event (full), or those after the parent's window.

    Incremental mode fine-tunes the champion (or, before any promotion, the newest version)
    on the events after its training window, with the events before it as replay.

    Raises:
        UnusableInputError: unknown mode or holdout, an empty store, nothing new to learn.
        NotFoundError: incremental training with no registered model.
    """
    if mode not in ("full", "incremental"):
        raise UnusableInputError(f"unknown training mode {mode!r} (use full or incremental)")
    events, items = load_events(settings), load_items(settings)
    if events.empty:
        raise UnusableInputError("the event store holds no events; run `recloop ingest` first")
    train_events, valid_events = split_holdout(events, holdout)
    parent, replay = None, None
    if mode == "incremental":
        parent = latest_version(settings)
        if parent is None:
            raise NotFoundError(
                "no registered model to fine-tune; run `recloop train --mode full` first"
            )
        train_events, replay = _after_window(train_events, parent.window_end, parent.model_uri)
    init_from = parent.model_uri if parent else None
    lineage = CandidateLineage(
        train_mode=mode,
        window_start=int(train_events[TIMESTAMP_COL].min()),
        window_end=int(train_events[TIMESTAMP_COL].max()) + 1,
        encoder_mode=settings.train.encoder_mode,
        parent_version=parent.version if parent else None,
    )
    return TrainingJob(
        train_events,
        items,
        lineage,
        init_from=init_from,
        replay_events=replay,
        valid_events=valid_events,
        params=training_params(settings, mode, init_from, holdout=holdout),
        run_name=f"train-{mode}-{settings.train.encoder_mode}",
    )


def split_holdout(events: pd.DataFrame, holdout: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Training events and validation events for ``--holdout none|loo``.

    With ``loo`` the model trains on the leave-one-out training part and early-stops on its
    validation part; the test part stays unseen, so ``recloop evaluate --protocol loo``
    on the result is a fair test.
    """
    if holdout == "none":
        return events, None
    if holdout != "loo":
        raise UnusableInputError(f"unknown holdout {holdout!r} (use none or loo)")
    split = leave_one_out(events)
    return split.train, split.valid


def _after_window(
    events: pd.DataFrame, window_end: int | None, parent_uri: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events after the parent's training window, and the older events to replay from."""
    if window_end is None:
        raise UnusableInputError(
            f"{parent_uri} records no training window; retrain with --mode full"
        )
    new = events[events[TIMESTAMP_COL] >= int(window_end)]
    if new.empty:
        raise UnusableInputError(
            f"no events after the parent's window end ({window_end}); nothing to learn"
        )
    return new, events[events[TIMESTAMP_COL] < int(window_end)]
