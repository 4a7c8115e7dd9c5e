"""The one way to train a model and register it, for ``recloop train`` and the loop's step.

``recloop.training`` trains (a model directory and its metrics; it knows neither MLflow nor
the registry) and ``recloop.registry.register_candidate`` registers (a new version, its
lineage tags, the ``challenger`` alias). :func:`train_and_register` opens the MLflow run
around both, so every training is logged the same way whoever asked for it:

- stale RUNNING runs of killed trainings are ended first (``run_lifecycle.reap_stale_runs``);
- the run records its owner and a heartbeat after every epoch, and SIGTERM/SIGINT end it
  as KILLED with the checkpoint kept for a resume (``run_lifecycle``);
- the run is named by mode and data window as UTC dates ("incremental
  1998-02-14..1998-02-20"); it starts before training and ends after registration, so its
  duration is the training's;
- every training setting is a parameter; per-epoch and final training metrics are
  diagnostics (``diag/train_loss``, ``diag/valid_ndcg_at_10``: ``recloop.tracking``), the
  headline keys (``ndcg_at_10``...) are left to the gate's holdout evaluation; resume
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
from recloop.registry.candidates import run_title
from recloop.registry.tags import TAG_ATTEMPTS, TAG_RESUMED, TAG_RESUMED_FROM_EPOCH, TAG_STAGE
from recloop.settings import Settings
from recloop.tracking import configure_mlflow, run_metric_key

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
    run_name: str | None = None  # default: mode and window as dates (registry.run_title)


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
    run_name = job.run_name or run_title(job.lineage)
    with signals_interrupt(), mlflow.start_run(run_name=run_name) as run:
        run_id = run.info.run_id
        try:
            mlflow.set_tags({TAG_STAGE: "train", **owner_tags()})
            mlflow.log_params(_param_values(job.params))
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
        values = {run_metric_key(k): v for k, v in row.items() if k != "epoch"}
        mlflow.log_metrics(values, step=step)
    final = {run_metric_key(k): v for k, v in result.metrics.items() if k != "epoch"}
    mlflow.log_metrics(
        {
            **final,
            run_metric_key("train_seconds"): result.train_seconds,
            run_metric_key("epochs"): result.epochs,
            run_metric_key("new_item_boost"): result.new_item_boost,
        }
    )


def training_params(
    settings: Settings, mode: str, parent_uri: str | None, **extra: Any
) -> dict[str, Any]:
    """Run parameters: every training setting, the evaluation cut-off, mode, parent, ``extra``.

    Lists are logged as comma-separated text; a person comparing runs finds the learning
    rate, encoder, replay ratio and every other knob in the runs table.
    """
    cfg = settings.train.model_dump()
    return {
        **cfg,
        "eval_k": settings.eval.k,
        "holdout_days": settings.loop.holdout_days,
        "train_mode": mode,
        "parent_model": parent_uri,
        **extra,
    }


def _param_values(params: dict[str, Any]) -> dict[str, str]:
    """MLflow params are text (at most 6000 characters): lists joined, None as "none"."""
    out = {}
    for key, value in params.items():
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        out[key] = ("none" if value is None else str(value))[:6000]
    return out


def window_batches(settings: Settings, start: int | None, end: int | None) -> list[dict]:
    """The ingest batches whose events fall in ``[start, end)``: id, file name, events.

    What a version's description lists as its training data ("batch files").
    """
    from pathlib import Path

    import sqlalchemy as sa

    from recloop.data import schema
    from recloop.data.store import open_store

    events, log_table = schema.events, schema.ingest_log
    query = (
        sa.select(events.c.batch_id, log_table.c.source, sa.func.count().label("n"))
        .select_from(events.outerjoin(log_table, events.c.batch_id == log_table.c.batch_id))
        .group_by(events.c.batch_id, log_table.c.source)
    )
    if start is not None:
        query = query.where(events.c[TIMESTAMP_COL] >= int(start))
    if end is not None:
        query = query.where(events.c[TIMESTAMP_COL] < int(end))
    with open_store(settings).connect() as connection:
        rows = connection.execute(query).all()
    found = [
        {"batch_id": str(b), "file": Path(str(src)).name if src else None, "events": int(n)}
        for b, src, n in rows
    ]
    return sorted(found, key=lambda r: (r["file"] or "", r["batch_id"]))


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
    window_start = int(train_events[TIMESTAMP_COL].min())
    window_end = int(train_events[TIMESTAMP_COL].max()) + 1
    batches = window_batches(settings, window_start, window_end)
    lineage = CandidateLineage(
        train_mode=mode,
        window_start=window_start,
        window_end=window_end,
        encoder_mode=settings.train.encoder_mode,
        batch_ids=tuple(b["batch_id"] for b in batches),
        parent_version=parent.version if parent else None,
        batches=tuple(batches),
        events=len(train_events),
    )
    return TrainingJob(
        train_events,
        items,
        lineage,
        init_from=init_from,
        replay_events=replay,
        valid_events=valid_events,
        params=training_params(settings, mode, init_from, holdout=holdout),
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
