"""Assemble a training run: data problem, item text, network, encoder mode, hyper-parameters."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from recloop import __version__
from recloop.model.artifacts import save_model_dir
from recloop.model.network import NetConfig, RecommenderNet
from recloop.model.text import cached_text_embeddings, item_texts, load_encoder
from recloop.model.text_tower import ItemTextEncoder, merged_encoder, wrap_lora
from recloop.serving.loading import local_model_dir
from recloop.settings import Settings
from recloop.training.checkpoint import fingerprint, remove_checkpoint
from recloop.training.lengths import derived_max_len
from recloop.training.prepare import TrainingProblem, prepare_problem
from recloop.training.sequences import TrainingWindows, sample_windows, training_windows
from recloop.training.warm_start import Parent, grow_into, load_parent

# Settings that only decide when a run stops, not its trajectory: a run may resume with
# another value (e.g. a larger epoch cap to continue, or a smaller one to finish now).
RESUMABLE_CHANGES = (
    "epochs",
    "incremental_epochs",
    "patience",
    "min_epochs",
    "max_train_minutes",
    "device",
)


@dataclass
class Schedule:
    """Optimisation hyper-parameters of this run (full or incremental)."""

    epochs: int
    lr: float
    warmup_steps: int


@dataclass
class Outcome:
    """What the loop hands back: best weights and the metric history."""

    best_state: dict[str, Any]
    best_metrics: dict[str, float]
    epochs: int
    history: list[dict[str, float]]
    text_encoder: Any = None
    prior_seconds: float = 0.0  # training time of earlier attempts (from the checkpoint)
    attempt: int = 1  # 1 for a fresh start, n for the (n-1)th resume
    resumed_from_epoch: int = 0  # epochs done when this attempt started


@dataclass
class TrainingRun:
    """A fully assembled run, ready for the loop."""

    settings: Settings
    problem: TrainingProblem
    net: RecommenderNet
    windows: TrainingWindows
    schedule: Schedule
    out_dir: Path
    fingerprint: str
    mode: str  # "full" | "incremental"
    encoder_name: str
    text_encoder: ItemTextEncoder | None = None
    tokenizer: Any = None
    parent: Parent | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self, outcome: Outcome, seconds: float) -> dict[str, Any]:
        """The model's facts for its config.json. Also adds the process's peak memory so
        far (``peak_rss_mib``) to ``outcome.best_metrics``: what the trainer returns as
        metrics, so MLflow logs it and ``recloop train --json`` prints it."""
        cfg = self.settings.train
        outcome.best_metrics["peak_rss_mib"] = peak_rss_mib()
        return {
            "text": {
                "encoder_name": self.encoder_name,
                "text_fields": list(cfg.text_fields),
                "text_max_tokens": cfg.text_max_tokens,
            },
            "encoder_mode": cfg.encoder_mode,
            "train_mode": self.mode,
            "window_start": self.problem.window_start,
            "window_end": self.problem.window_end,
            "train_events": self.problem.n_train_events,
            "metrics": outcome.best_metrics,
            "epochs": outcome.epochs,
            "train_seconds": seconds,
            "peak_rss_mib": outcome.best_metrics["peak_rss_mib"],
            "parent_dir": str(self.parent.model_dir) if self.parent else None,
            "mmr_candidates": cfg.mmr_candidates,
            "cold_user_lambda": cfg.cold_user_lambda,
            "recloop_version": __version__,
            "created_at": int(time.time()),
        }

    def save(self, outcome: Outcome, metadata: dict[str, Any]) -> Path:
        """Write the network (the caller loads the best weights into it first) and the
        tuned encoder as a model directory."""
        encoder = None
        if self.text_encoder is not None:
            tuned = merged_encoder(self.text_encoder.encoder)
            encoder = (self.tokenizer, tuned)
        out = save_model_dir(
            self.out_dir,
            self.net.cpu(),
            items=self.problem.items,
            popularity=self.problem.popularity,
            metadata=metadata,
            encoder=encoder,
        )
        remove_checkpoint(self.out_dir)
        return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# Long: data, text, network, optimiser and schedule are built in an order the resume
# fingerprint depends on; kept as one recipe.
def build_run(
    settings: Settings,
    events: pd.DataFrame,
    items: pd.DataFrame,
    *,
    init_from: str | Path | None,
    replay_events: pd.DataFrame | None,
    valid_events: pd.DataFrame | None,
    out_dir: str | Path | None,
    show_progress: bool = False,
) -> TrainingRun:
    """Prepare data, item text and the network for :func:`run_training`.

    ``show_progress`` draws bars on stderr for the preparation stages and the encoding.
    """
    cfg = settings.train
    seed_everything(cfg.seed)
    stages = _Stages(show_progress)
    parent = None
    if init_from:
        with local_model_dir(init_from, settings) as parent_dir:
            parent = load_parent(parent_dir)
    problem = prepare_problem(
        events,
        items,
        parent_items=parent.items if parent else None,
        parent_scenarios=parent.scenarios if parent else None,
        parent_seen=parent.seen if parent else None,
        history=replay_events,
        valid_events=valid_events,
        positive_threshold=cfg.positive_threshold,
    )
    stages.done("item text")
    encoder_name = parent.encoder_name if parent else cfg.encoder_name
    texts = item_texts(problem.items, cfg.text_fields)
    encoder = None if cfg.encoder_mode == "frozen" else load_encoder(encoder_name)
    bank = cached_text_embeddings(
        texts,
        encoder_name=encoder_name,
        cache_dir=settings.embedding_cache_dir,
        max_tokens=cfg.text_max_tokens,
        batch_size=cfg.encode_batch_size,
        encoder=encoder,
        show_progress=show_progress,
    )
    stages.done("training windows")
    net = _build_net(settings, problem, bank, parent)
    max_len = net.config.max_len
    stride = max(1, round(max_len * (1 - cfg.window_overlap)))
    cut = {"value_weighted": cfg.value_weighted, "stride": stride}
    windows = training_windows(problem.sequences, max_len, **cut)
    if problem.replay_sequences and cfg.replay_ratio > 0:
        pool = training_windows(problem.replay_sequences, max_len, **cut)
        replayed = sample_windows(pool, round(cfg.replay_ratio * windows.n_targets), cfg.seed)
        windows = TrainingWindows.concat([windows, replayed])
    stages.done("network")
    schedule = (
        Schedule(cfg.incremental_epochs, cfg.incremental_lr, cfg.incremental_warmup_steps)
        if parent
        else Schedule(cfg.epochs, cfg.lr, cfg.warmup_steps)
    )
    text_encoder = None
    if encoder is not None:
        model = encoder[1]
        if cfg.encoder_mode == "lora":
            model = wrap_lora(
                model,
                r=cfg.lora_r,
                alpha=cfg.lora_alpha,
                dropout=cfg.lora_dropout,
                targets=cfg.lora_target_modules,
            )
        text_encoder = ItemTextEncoder(model, encoder[0], texts, cfg.text_max_tokens)
    fp = fingerprint(
        {k: v for k, v in cfg.model_dump().items() if k not in RESUMABLE_CHANGES},
        problem.item_ids,
        windows.inputs,
        windows.targets,
        parent.config if parent else None,
    )
    target = Path(out_dir) if out_dir else _default_out_dir(settings, parent is not None, fp)
    stages.close()
    return TrainingRun(
        settings=settings,
        problem=problem,
        net=net,
        windows=windows,
        schedule=schedule,
        out_dir=target,
        fingerprint=fp,
        mode="incremental" if parent else "full",
        encoder_name=encoder_name,
        text_encoder=text_encoder,
        tokenizer=encoder[0] if encoder else None,
        parent=parent,
    )


class _Stages:
    """A stage-by-stage bar on stderr for the preparation (tqdm; silent when disabled)."""

    NAMES = ("events", "item text", "training windows", "network")

    def __init__(self, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=len(self.NAMES), desc="preparing: events", unit="stage")

    def done(self, next_stage: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_description(f"preparing: {next_stage}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (``ru_maxrss``: KiB on Linux,
    bytes on macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _build_net(
    settings: Settings, problem: TrainingProblem, bank: np.ndarray, parent: Parent | None
) -> RecommenderNet:
    """A new network for this vocabulary; a warm start keeps the parent's shapes."""
    cfg = settings.train
    if parent is not None:
        config = NetConfig.from_dict(parent.config["net"])
        config.n_items, config.scenarios = len(problem.item_ids), problem.scenarios
    else:
        config = NetConfig(
            n_items=len(problem.item_ids),
            text_dim=bank.shape[1],
            hidden_dim=cfg.hidden_dim,
            num_heads=cfg.num_heads,
            num_layers=cfg.num_layers,
            max_len=(
                derived_max_len(_sequence_lengths(problem))
                if cfg.max_len == "auto"
                else cfg.max_len
            ),
            dropout=cfg.dropout,
            hybrid=cfg.hybrid,
            use_text=cfg.use_text,
            temperature=cfg.temperature,
            scenarios=problem.scenarios,
        )
    net = RecommenderNet(config, torch.from_numpy(bank))
    if parent is not None:
        grow_into(net, parent.net)
    with torch.no_grad():
        net.seen_mask[1:] = torch.from_numpy(problem.seen.astype(np.float32))
    return net


def _sequence_lengths(problem: TrainingProblem) -> np.ndarray:
    """Each training user's event count (the length rule's input)."""
    return np.fromiter((len(s.items) for s in problem.sequences), dtype=np.int64)


def _default_out_dir(settings: Settings, incremental: bool, fp: str) -> Path:
    """Named by the run's fingerprint: every process of a multi-GPU run agrees on it, and a
    killed run started again with the same data and settings finds its checkpoint."""
    kind = "incremental" if incremental else "full"
    return settings.home_dir / "models" / f"{kind}-{fp}"
