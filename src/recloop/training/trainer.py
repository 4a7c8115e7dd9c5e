"""Train the recommender: full retrain from scratch or incremental fine-tuning.

One path for both (``init_from`` switches to warm start, as in nanoGPT):

    train_recommender(settings, events, items)                         # full, from scratch
    train_recommender(settings, new_events, items, init_from=champion_dir,
                      replay_events=older_events)                      # incremental

The loop runs through ``accelerate``: on one machine it uses CUDA when present (bf16
autocast) and the CPU otherwise; on several GPUs the same code runs under
``accelerate launch -m recloop.cli.main train`` (or ``torchrun``) with data-parallel batches.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recloop.settings import Settings
from recloop.training.calibration import calibrate_new_item_boost
from recloop.training.heap import heap_reuse
from recloop.training.loop import run_training
from recloop.training.setup import build_run

log = logging.getLogger(__name__)
EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class TrainResult:
    """What a training run produced."""

    model_dir: Path
    metrics: dict[str, float]
    train_seconds: float
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    new_item_boost: float = 0.0  # the bonus new arrivals get (recloop.model.new_items)
    attempts: int = 1  # processes that trained this model (>1: resumed from a checkpoint)
    resumed_from_epoch: int = 0  # epochs already done when the last attempt started


# Long: mostly the docstring (the training contract); the body is four calls.
def train_recommender(
    settings: Settings,
    events: pd.DataFrame,
    items: pd.DataFrame,
    *,
    init_from: str | Path | None = None,
    replay_events: pd.DataFrame | None = None,
    valid_events: pd.DataFrame | None = None,
    out_dir: str | Path | None = None,
    on_epoch_end: EpochCallback | None = None,
    show_progress: bool = False,
) -> TrainResult:
    """Train (or fine-tune) a recommender and write a loadable model directory.

    Args:
        settings: reads the ``train`` section and the cache directory.
        events: canonical events to learn from (for incremental training: the new window).
        items: the catalog (text fields per ``train.text_fields``).
        init_from: a model directory or MLflow model URI to warm-start from; then the
            epoch cap, learning rate and warm-up come from the ``incremental_*`` settings.
        replay_events: older events: the context of users active in ``events`` and a pool
            of sequences from which ``replay_ratio`` replayed targets per new target are
            drawn (seeded, whole windows), so the model does not forget what it knew.
        valid_events: events to early-stop on (each user's history is their training
            events); None holds out every user's last training event.
        out_dir: where the model directory goes; a checkpoint found there is resumed.
        on_epoch_end: called after each epoch's checkpoint with (epoch, metrics).
        show_progress: draw a progress bar on stderr.

    Returns:
        TrainResult: model_dir (``Recommender.load``-able), best validation metrics,
        wall-clock seconds and epochs run. After a resume, ``train_seconds`` is the time
        of every attempt (each counted up to its last checkpoint, which the checkpoint
        carries; work after it was lost and is counted once, in the attempt that redid it)
        and ``attempts`` / ``resumed_from_epoch`` say that it resumed.
    """
    started = time.perf_counter()
    run = build_run(
        settings,
        events,
        items,
        init_from=init_from,
        replay_events=replay_events,
        valid_events=valid_events,
        out_dir=out_dir,
        show_progress=show_progress,
    )
    with heap_reuse():
        outcome = run_training(
            run, on_epoch_end=on_epoch_end, show_progress=show_progress, started=started
        )
    resume = {"attempts": outcome.attempt, "resumed_from_epoch": outcome.resumed_from_epoch}
    seconds = outcome.prior_seconds + time.perf_counter() - started
    if not is_main_process():  # other ranks of a multi-GPU run: rank 0 writes the model
        return TrainResult(
            run.out_dir, outcome.best_metrics, seconds, outcome.epochs, outcome.history, **resume
        )
    run.net.load_state_dict(outcome.best_state)  # what is calibrated and saved
    cfg = settings.train
    new_items = calibrate_new_item_boost(
        run.net,
        run.problem,
        candidates=cfg.new_item_boost_candidates,
        max_age_days=cfg.new_item_max_age_days,
        tolerance=cfg.new_item_ndcg_tolerance,
        fixed=cfg.new_item_boost,
    )
    metadata = {**run.metadata(outcome, seconds), "new_items": new_items.to_dict(), **resume}
    model_dir = run.save(outcome, metadata)
    return TrainResult(
        model_dir,
        outcome.best_metrics,
        seconds,
        outcome.epochs,
        outcome.history,
        new_items.boost,
        **resume,
    )


def is_main_process() -> bool:
    """True unless this is a non-zero rank of ``accelerate launch`` / ``torchrun``."""
    return int(os.environ.get("RANK", "0")) == 0
