"""Train from the event store, log the MLflow run and register the candidate version.

This is what ``recloop train`` runs; the continual loop can call it too. Incremental mode
fine-tunes the champion (or, before any promotion, the latest version) on the events after
its training window, with a replay sample of the events before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recloop import __version__
from recloop.columns import TIMESTAMP_COL
from recloop.errors import Interrupted, NotFoundError, UnusableInputError
from recloop.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RegisteredModel:
    """The outcome of ``recloop train``."""

    run_id: str
    model_uri: str
    version: str | None
    train_seconds: float
    metrics: dict[str, float]
    model_dir: str
    train_mode: str
    epochs: int
    attempts: int = 1  # >1: resumed from a checkpoint of an interrupted training
    resumed_from_epoch: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def mlflow_metric_name(key: str) -> str:
    """``valid_ndcg@10`` -> ``valid_ndcg_at_10`` (MLflow names cannot hold '@')."""
    return key.replace("@", "_at_")


def latest_model(settings: Settings) -> tuple[str, str] | None:
    """(model URI, version) of the champion, else of the newest registered version."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from recloop.registry import get_champion
    from recloop.tracking import configure_mlflow

    configure_mlflow(settings)
    champion = get_champion(settings)
    if champion is not None:
        return champion.model_uri, champion.version
    name = settings.registry.model_name
    try:
        versions = MlflowClient().search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    if not versions:
        return None
    newest = max(versions, key=lambda v: int(v.version))
    return f"models:/{name}/{newest.version}", str(newest.version)


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
    from recloop.evaluation.protocols import leave_one_out

    split = leave_one_out(events)
    return split.train, split.valid


def train_and_register(
    settings: Settings, *, mode: str = "full", holdout: str = "none", show_progress: bool = False
) -> RegisteredModel | None:
    """Train on the store's events, log an MLflow run and register a model version.

    Returns None on the non-zero ranks of a multi-GPU run (only rank 0 logs).
    """
    import mlflow

    from recloop.data.store import load_events, load_items
    from recloop.tracking import configure_mlflow
    from recloop.training.run_lifecycle import (
        end_killed,
        heartbeat,
        owner_tags,
        reap_stale_runs,
        signals_interrupt,
    )
    from recloop.training.trainer import is_main_process, train_recommender

    if mode not in ("full", "incremental"):
        raise UnusableInputError(f"unknown training mode {mode!r} (use full or incremental)")
    events, items = load_events(settings), load_items(settings)
    if events.empty:
        raise UnusableInputError("the event store holds no events; run `recloop ingest` first")
    train_events, valid_events = split_holdout(events, holdout)
    parent = latest_model(settings) if mode == "incremental" else None
    init_from, replay = None, None
    if mode == "incremental":
        if parent is None:
            raise NotFoundError(
                "no registered model to fine-tune; run `recloop train --mode full` first"
            )
        init_from = parent[0]
        train_events, replay = _new_window(settings, train_events, parent[0])
    if not is_main_process():  # multi-GPU: every rank trains, rank 0 logs and registers
        train_recommender(
            settings,
            train_events,
            items,
            init_from=init_from,
            replay_events=replay,
            valid_events=valid_events,
        )
        return None
    experiment_id = configure_mlflow(settings)
    reap_stale_runs(settings, experiment_id)  # runs of trainings killed with SIGKILL
    with (
        signals_interrupt(),
        mlflow.start_run(run_name=f"train-{mode}-{settings.train.encoder_mode}") as run,
    ):
        try:
            mlflow.set_tags({"recloop.stage": "train", **owner_tags()})
            mlflow.log_params(_params(settings, mode, holdout, parent))
            result = train_recommender(
                settings,
                train_events,
                items,
                init_from=init_from,
                replay_events=replay,
                valid_events=valid_events,
                show_progress=show_progress,
                on_epoch_end=lambda _epoch, _metrics: heartbeat(run.info.run_id),
            )
            model_uri, version = _log_result(settings, result, mode, parent)
        except Interrupted as stop:
            end_killed(run.info.run_id, stop)
            raise Interrupted(
                stop.signum,
                f"training interrupted by {stop.signal_name}: MLflow run {run.info.run_id} "
                "ended as KILLED; the same command resumes from the last checkpoint",
            ) from None
    return RegisteredModel(
        run.info.run_id,
        model_uri,
        version,
        result.train_seconds,
        result.metrics,
        str(result.model_dir),
        mode,
        result.epochs,
        result.attempts,
        result.resumed_from_epoch,
    )


def _log_result(settings: Settings, result, mode: str, parent) -> tuple[str, str | None]:
    """Log the training's metrics and resume facts into the active run; register the model."""
    import mlflow

    from recloop.serving.packaging import log_recommender

    mlflow.set_tags(
        {
            "recloop.resumed": str(result.attempts > 1).lower(),
            "recloop.attempts": str(result.attempts),
            "recloop.resumed_from_epoch": str(result.resumed_from_epoch),
        }
    )
    for row in result.history:
        step = int(row["epoch"])
        mlflow.log_metrics(
            {mlflow_metric_name(k): v for k, v in row.items() if k != "epoch"}, step=step
        )
    final = {mlflow_metric_name(k): v for k, v in result.metrics.items() if k != "epoch"}
    mlflow.log_metrics(
        {
            **final,
            "train_seconds": result.train_seconds,
            "epochs": result.epochs,
            "new_item_boost": result.new_item_boost,
        }
    )
    model_uri, version = log_recommender(
        result.model_dir,
        registered_model_name=settings.registry.model_name,
        serving=settings.serving,
    )
    if version is not None:
        _tag_version(settings, version, mode, result.model_dir, parent)
    return model_uri, version


def _new_window(
    settings: Settings, events: pd.DataFrame, parent_uri: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events after the parent's training window, and the older events to replay from."""
    from recloop.model.artifacts import read_config
    from recloop.serving.loading import local_model_dir

    with local_model_dir(parent_uri, settings) as parent_dir:
        window_end = read_config(parent_dir).get("window_end")
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


def _params(settings: Settings, mode: str, holdout: str, parent: tuple[str, str] | None) -> dict:
    cfg = settings.train.model_dump()
    keep = {k: v for k, v in cfg.items() if not isinstance(v, list)}
    return {
        **keep,
        "train_mode": mode,
        "holdout": holdout,
        "parent_model": parent[0] if parent else None,
    }


def _tag_version(settings: Settings, version: str, mode: str, model_dir, parent) -> None:
    from mlflow import MlflowClient

    from recloop import registry
    from recloop.model.artifacts import read_config

    config = read_config(model_dir)
    tags = {
        registry.TAG_TRAIN_MODE: mode,
        registry.TAG_ENCODER_MODE: config.get("encoder_mode", settings.train.encoder_mode),
        registry.TAG_WINDOW_START: config.get("window_start"),
        registry.TAG_WINDOW_END: config.get("window_end"),
        registry.TAG_PARENT_VERSION: parent[1] if parent else "",
        registry.TAG_CODE_VERSION: __version__,
    }
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(
            settings.registry.model_name, version, key, "" if value is None else str(value)
        )
