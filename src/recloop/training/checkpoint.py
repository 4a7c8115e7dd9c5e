"""Per-epoch training checkpoints, so a killed run resumes where it stopped.

A checkpoint holds the model, optimiser and scheduler state, the epoch count, the early
stopping state (best score, best weights, epochs without gain), the metric history and the
resume accounting: ``train_seconds`` (the time of every attempt up to this checkpoint) and
``attempt`` (how many processes have trained it), so a resumed run reports its whole cost.
Randomness is re-seeded from (seed, epoch) at every epoch start, so a resumed run draws
the same batches and dropout masks as an uninterrupted one and ends with the same weights.
The checkpoint records a fingerprint of the settings and data; a mismatch starts afresh
rather than resuming someone else's run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT_FILE = "checkpoint.pt"


def checkpoint_path(work_dir: Path) -> Path:
    return Path(work_dir) / CHECKPOINT_FILE


def save_checkpoint(work_dir: Path, state: dict[str, Any]) -> None:
    """Write atomically: a kill during the write leaves the previous checkpoint intact."""
    import torch

    path = checkpoint_path(work_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(work_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    """The saved state when it belongs to this run (same fingerprint), else None."""
    import torch

    path = checkpoint_path(work_dir)
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != fingerprint:
        return None
    return state


def remove_checkpoint(work_dir: Path) -> None:
    """Drop the checkpoint once the final model is written (it is large and now stale)."""
    checkpoint_path(work_dir).unlink(missing_ok=True)


def fingerprint(*parts: Any) -> str:
    """A short hash of the settings and data a run depends on (for resuming)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]
