"""The model directory: everything a trained recommender needs, and nothing from training.

Layout (all loadable with no network and no workspace)::

    config.json          network shapes, item text settings, training metadata
    model.safetensors    network weights (text bank and seen mask included)
    items.parquet        catalog rows in model order (item_id, title, genres, ...)
    item_vectors.npy     precomputed item index (n_items, d) the user vector is scored against
    text_embeddings.npy  L2-normalised item text embeddings (for ILD and MMR)
    popularity.npy       training interactions per item (empty-history fallback)
    encoder/             the tuned text encoder (lora/full modes only, LoRA merged)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recloop.errors import UnusableInputError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ITEMS_FILE = "items.parquet"
ITEM_VECTORS_FILE = "item_vectors.npy"
TEXT_EMBEDDINGS_FILE = "text_embeddings.npy"
POPULARITY_FILE = "popularity.npy"
ENCODER_DIR = "encoder"
FORMAT_VERSION = 1


def save_model_dir(
    out_dir: Path,
    net: Any,
    *,
    items: pd.DataFrame,
    popularity: np.ndarray,
    metadata: dict[str, Any],
    encoder: tuple[Any, Any] | None = None,
) -> Path:
    """Write a trained network and its item index to ``out_dir``.

    Args:
        out_dir: target directory (created).
        net: a ``RecommenderNet`` on any device.
        items: catalog rows in the network's item order (``item_id`` first).
        popularity: training interaction count per item, same order.
        metadata: JSON-safe facts (text settings, metrics, window, parent...).
        encoder: (tokenizer, model) when the encoder was tuned; saved under ``encoder/``.

    Returns:
        Path: ``out_dir``.
    """
    import torch
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS_FILE))
    net.eval()
    with torch.no_grad():
        vectors = net.item_vectors()[1:].float().cpu().numpy()
    np.save(out_dir / ITEM_VECTORS_FILE, vectors)
    np.save(out_dir / TEXT_EMBEDDINGS_FILE, net.text_bank[1:].float().cpu().numpy())
    np.save(out_dir / POPULARITY_FILE, np.asarray(popularity, dtype=np.float32))
    items.reset_index(drop=True).to_parquet(out_dir / ITEMS_FILE, index=False)
    config = {"format_version": FORMAT_VERSION, "net": net.config.to_dict(), **metadata}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    if encoder is not None:
        tokenizer, model = encoder
        tokenizer.save_pretrained(out_dir / ENCODER_DIR)
        model.save_pretrained(out_dir / ENCODER_DIR)
    return out_dir


@contextmanager
def reading(model_dir: Path, name: str) -> Iterator[None]:
    """Report a file of the model directory that cannot be read as one operator line.

    A model directory copied or downloaded halfway (a truncated ``model.safetensors``, an
    ``.npy`` cut short, a missing file) is unusable input, not a bug: every reader in this
    module goes through here, so ``recommend``, ``evaluate``, the gate and warm starts all
    say ``model DIR is corrupt or unreadable: FILE: why`` (exit 2).
    """
    from safetensors import SafetensorError

    try:
        yield
    except (OSError, EOFError, ValueError, SafetensorError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnusableInputError(
            f"model {model_dir} is corrupt or unreadable: {name}: {why}"
        ) from None


def read_config(model_dir: Path) -> dict[str, Any]:
    """The model directory's ``config.json``; a clear error when it is not a model dir."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        raise UnusableInputError(f"{model_dir} is not a recloop model directory (no {CONFIG_FILE})")
    with reading(model_dir, CONFIG_FILE):
        return json.loads(path.read_text())


def load_net(model_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Rebuild the network from a model directory (CPU, eval mode)."""
    from safetensors.torch import load_file

    from recloop.model.network import NetConfig, RecommenderNet  # torch: only to rebuild a net

    config = read_config(model_dir)
    net = RecommenderNet(NetConfig.from_dict(config["net"]))
    with reading(model_dir, WEIGHTS_FILE):
        state = load_file(str(Path(model_dir) / WEIGHTS_FILE))
    net.load_state_dict(state)
    net.eval()
    return net, config


def load_items(model_dir: Path) -> pd.DataFrame:
    """Catalog rows in model order."""
    with reading(model_dir, ITEMS_FILE):
        return pd.read_parquet(Path(model_dir) / ITEMS_FILE)


def load_array(model_dir: Path, name: str) -> np.ndarray:
    """One of the directory's ``.npy`` files (item vectors, text embeddings, popularity)."""
    with reading(model_dir, name):
        return np.load(Path(model_dir) / name)
