"""The epoch loop: AdamW with warm-up, clipping, early stopping, checkpoints, accelerate.

Reproducibility: batches are drawn from a permutation seeded by (seed, epoch) and torch's
generator is re-seeded at each epoch start, so a run resumed from its epoch-``e``
checkpoint continues exactly as the uninterrupted run would.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from recloop.training.checkpoint import load_checkpoint, save_checkpoint
from recloop.training.lr_schedule import WarmupThenBudgetDecay, epochs_that_fit
from recloop.training.objective import VALIDATION_K, NextItemObjective, validation_metrics
from recloop.training.setup import Outcome, TrainingRun

log = logging.getLogger(__name__)


class EpochPermutation(Sampler[int]):
    """A shuffle that depends only on (seed, epoch): resumable and identical across ranks."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        return iter(rng.permutation(self.size).tolist())

    def __len__(self) -> int:
        return self.size


def make_accelerator(device: str) -> Any:
    """``auto``: CUDA with bf16 autocast when present, else CPU; ``cpu``/``cuda[:n]`` force it."""
    from accelerate import Accelerator

    use_cpu = device == "cpu" or not torch.cuda.is_available()
    if device.startswith("cuda:") and not use_cpu and "LOCAL_RANK" not in os.environ:
        torch.cuda.set_device(int(device.split(":", 1)[1]))
    precision = "no" if use_cpu else ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    return Accelerator(cpu=use_cpu, mixed_precision=precision)


def _optimizer(objective: NextItemObjective, run: TrainingRun) -> torch.optim.Optimizer:
    """AdamW; encoder weights (lora/full) get their own, smaller learning rate."""
    cfg = run.settings.train
    net_params = [p for p in objective.net.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": net_params, "lr": run.schedule.lr}]
    if objective.text_encoder is not None:
        enc = [p for p in objective.text_encoder.parameters() if p.requires_grad]
        groups.append({"params": enc, "lr": cfg.encoder_lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


# Long: the epoch loop with its resume, early-stopping and checkpoint bookkeeping kept in
# one place, where their order is visible.
def run_training(
    run: TrainingRun,
    *,
    on_epoch_end=None,
    show_progress: bool = False,
    started: float | None = None,
) -> Outcome:
    """Train until the epoch cap or early stopping; returns the best weights.

    ``started`` (``time.perf_counter()`` when this attempt began, default now) dates each
    checkpoint's ``train_seconds``: the time of every attempt so far, so a resumed run
    reports the time of all its attempts, not only of the last.
    """
    started = time.perf_counter() if started is None else started
    cfg = run.settings.train
    accelerator = make_accelerator(cfg.device)
    objective = NextItemObjective(run.net, run.text_encoder, cfg.id_dropout)
    w = run.windows
    dataset = TensorDataset(
        *(torch.from_numpy(a) for a in (w.inputs, w.targets, w.weights, w.scenarios))
    )
    sampler = EpochPermutation(len(dataset), cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler)
    optimizer = _optimizer(objective, run)
    multiplier = WarmupThenBudgetDecay(run.schedule.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    state = _resume_state(run, objective, optimizer, scheduler)
    objective, optimizer, loader, scheduler = accelerator.prepare(
        objective, optimizer, loader, scheduler
    )
    bar = _progress(
        show_progress and accelerator.is_main_process, run.schedule.epochs, state["epoch"]
    )
    out_of_time = False
    try:
        while state["epoch"] < run.schedule.epochs and not state["stopped"] and not out_of_time:
            epoch = state["epoch"]
            epoch_started = time.perf_counter()
            steps_before = _scheduler_steps(scheduler)
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            # accelerate's loader sets its sampler's epoch from its own counter, which
            # restarts at 0 in a resumed process: set it from the true epoch.
            (loader if hasattr(loader, "set_epoch") else sampler).set_epoch(epoch)
            train_loss = _train_epoch(
                objective, loader, optimizer, scheduler, accelerator, cfg.grad_clip
            )
            metrics = {"epoch": epoch + 1, "train_loss": train_loss, "lr": _last_lr(scheduler)}
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == run.schedule.epochs:
                metrics.update(_validate(accelerator.unwrap_model(objective), run))
                _early_stopping(state, metrics, accelerator.unwrap_model(objective), cfg)
                _decay_on_plateau(state, scheduler, cfg)
            state["epoch"] = epoch + 1
            state["history"].append(metrics)
            if cfg.max_train_minutes is not None and cfg.budget_lr_decay:  # before the checkpoint
                _plan_budget_decay(
                    multiplier,
                    accelerator,
                    scheduler,
                    budget_seconds=cfg.max_train_minutes * 60,
                    spent=state["prior_seconds"] + time.perf_counter() - started,
                    epoch_seconds=time.perf_counter() - epoch_started,
                    epoch_steps=_scheduler_steps(scheduler) - steps_before,
                    epochs_capped=run.schedule.epochs - state["epoch"],
                )
            if accelerator.is_main_process:
                state["train_seconds"] = state["prior_seconds"] + time.perf_counter() - started
                _checkpoint(run, state, accelerator.unwrap_model(objective), optimizer, scheduler)
            accelerator.wait_for_everyone()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    loss=f"{train_loss:.3f}",
                    ndcg=f"{metrics.get('valid_ndcg@10', float('nan')):.4f}",
                )
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, metrics)
            out_of_time = _budget_spent(
                accelerator,
                cfg.max_train_minutes,
                spent=state["prior_seconds"] + time.perf_counter() - started,
                next_epoch=time.perf_counter() - epoch_started,
            ) or multiplier.ended(_scheduler_steps(scheduler))  # the same on every rank
    finally:
        if bar is not None:
            bar.close()
    unwrapped = accelerator.unwrap_model(objective)
    if state["best_state"] is None:
        state["best_state"] = _cpu_state(unwrapped.net)
    if state["best_encoder"] is not None and unwrapped.text_encoder is not None:
        unwrapped.text_encoder.load_state_dict(state["best_encoder"])
    return Outcome(
        state["best_state"],
        state["best_metrics"],
        state["epoch"],
        state["history"],
        unwrapped.text_encoder,
        prior_seconds=state["prior_seconds"],
        attempt=state["attempt"],
        resumed_from_epoch=state["resumed_from_epoch"],
    )


def _train_epoch(objective, loader, optimizer, scheduler, accelerator, clip: float) -> float:
    objective.train()
    total, batches = 0.0, 0
    for inputs, targets, weights, scenarios in loader:
        with accelerator.autocast():
            loss = objective(inputs, targets, weights, scenarios)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(objective.parameters(), clip)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach())
        batches += 1
    unwrapped = accelerator.unwrap_model(objective)
    if unwrapped.text_encoder is not None:  # keep the bank in step with the tuned encoder
        with torch.no_grad():
            unwrapped.net.text_bank[1:] = unwrapped.text_encoder.encode_all(256).to(
                unwrapped.net.text_bank.dtype
            )
    return total / max(batches, 1)


def _budget_spent(accelerator, minutes: float | None, *, spent: float, next_epoch: float) -> bool:
    """Whether another epoch, as long as the last, would overrun the time budget. Every
    rank of a multi-GPU run gets the same answer (accelerate's trigger), so none waits
    for a batch the others will never send."""
    if minutes is not None and epochs_that_fit(minutes * 60, spent, next_epoch) == 0:
        log.info("training time budget of %.1f min reached after %.0f s", minutes, spent)
        accelerator.set_trigger()
    return accelerator.check_trigger()


def _plan_budget_decay(
    multiplier: WarmupThenBudgetDecay,
    accelerator,
    scheduler,
    *,
    budget_seconds: float,
    spent: float,
    epoch_seconds: float,
    epoch_steps: int,
    epochs_capped: int,
) -> None:
    """Plan the learning rate's fall to zero at the end of the last epoch that fits."""
    fit = epochs_that_fit(budget_seconds, spent, epoch_seconds)
    left = _agreed_min(accelerator, min(fit, epochs_capped))
    step = _scheduler_steps(scheduler)
    multiplier.plan(step, step + left * epoch_steps)


def _inner(scheduler):
    """The torch scheduler itself: accelerate wraps it."""
    return getattr(scheduler, "scheduler", scheduler)


def _scheduler_steps(scheduler) -> int:
    """Steps the (inner) scheduler has taken: accelerate's wrapper steps it once per process
    for every optimiser step, so plans are made in its own count."""
    return int(_inner(scheduler).last_epoch)


def _last_lr(scheduler) -> float:
    """The first parameter group's learning rate at the end of the epoch."""
    return float(_inner(scheduler).get_last_lr()[0])


def _agreed_min(accelerator, value: int) -> int:
    """The smallest of every rank's ``value``, so all ranks plan the same learning rates."""
    return int(accelerator.gather(torch.tensor([value], device=accelerator.device)).min())


def _validate(objective: NextItemObjective, run: TrainingRun) -> dict[str, float]:
    if not run.problem.valid_cases:
        return {}
    metrics = validation_metrics(objective.net, run.problem.valid_cases, VALIDATION_K)
    return {f"valid_{k}": v for k, v in metrics.items()}


def _early_stopping(state: dict[str, Any], metrics: dict[str, float], objective, cfg) -> None:
    """Keep the best weights by validation NDCG@10; stop after ``patience`` evaluations."""
    score = metrics.get(f"valid_ndcg@{VALIDATION_K}", -metrics["train_loss"])
    if state["best_score"] is None or score > state["best_score"]:
        state["best_score"], state["bad_evals"] = score, 0
        state["best_state"] = _cpu_state(objective.net)
        state["best_metrics"] = dict(metrics)
        if objective.text_encoder is not None:
            state["best_encoder"] = copy.deepcopy(objective.text_encoder.state_dict())
    else:
        state["bad_evals"] += 1
        if state["bad_evals"] >= cfg.patience and metrics["epoch"] >= cfg.min_epochs:
            state["stopped"] = True


def _decay_on_plateau(state: dict[str, Any], scheduler, cfg) -> None:
    """Multiply the learning rates by ``lr_decay_factor`` after every ``lr_decay_patience``
    evaluations without gain (the scheduler's base rates: saved with it, so resumable)."""
    if state["bad_evals"] == 0 or state["bad_evals"] % cfg.lr_decay_patience or state["stopped"]:
        return
    inner = _inner(scheduler)
    inner.base_lrs = [lr * cfg.lr_decay_factor for lr in inner.base_lrs]
    log.info(
        "no gain for %d evaluations: learning rates now %s", state["bad_evals"], inner.base_lrs
    )


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _resume_state(run: TrainingRun, objective, optimizer, scheduler) -> dict[str, Any]:
    fresh = {
        "epoch": 0,
        "best_score": None,
        "best_state": None,
        "best_metrics": {},
        "bad_evals": 0,
        "stopped": False,
        "history": [],
        "best_encoder": None,
        # resume accounting: this process's attempt, and what the earlier ones did
        "attempt": 1,
        "resumed_from_epoch": 0,
        "prior_seconds": 0.0,
        "train_seconds": 0.0,
    }
    saved = load_checkpoint(run.out_dir, run.fingerprint)
    if saved is None:
        return fresh
    objective.load_state_dict(saved.pop("model"))
    optimizer.load_state_dict(saved.pop("optimizer"))
    scheduler.load_state_dict(saved.pop("scheduler"))
    state = {**fresh, **{k: v for k, v in saved.items() if k in fresh}}
    state["attempt"] = int(saved.get("attempt", 1)) + 1
    state["resumed_from_epoch"] = int(saved["epoch"])
    state["prior_seconds"] = float(saved.get("train_seconds", 0.0))
    log.info(
        "resuming from %s at epoch %d (attempt %d, %.1f s trained before)",
        run.out_dir,
        saved["epoch"],
        state["attempt"],
        state["prior_seconds"],
    )
    return state


def _checkpoint(run: TrainingRun, state, objective, optimizer, scheduler) -> None:
    save_checkpoint(
        run.out_dir,
        {
            **state,
            "fingerprint": run.fingerprint,
            "model": objective.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
    )


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="training", unit="epoch")
