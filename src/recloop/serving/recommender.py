"""The trained recommender as every consumer sees it: score, top-K, MMR, explanations.

Loads a model directory (see ``recloop.model.artifacts``): item vectors are precomputed,
so a request runs only the small user tower over the history and one matrix product.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recloop.columns import ITEM_COL, TITLE_COL
from recloop.errors import UnusableInputError
from recloop.model import artifacts
from recloop.model.inputs import left_pad
from recloop.model.new_items import NewItemBoost, item_birth_days, new_arrivals, to_days
from recloop.serving.mmr import mmr_rerank

# Most candidates MMR re-ranks unless the caller sets ``max_mmr_pool`` (the served model and
# the CLI set it from ``settings.serving.max_mmr_pool``, whose default this is).
DEFAULT_MAX_MMR_POOL = 1000
_CHUNK = 256  # histories per forward pass: bounds the user tower's activations


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


class Recommender:
    """Top-K recommendations for item-id histories, from a trained model directory."""

    def __init__(
        self,
        net: Any,
        config: dict[str, Any],
        items: pd.DataFrame,
        item_vectors: np.ndarray,
        text_embeddings: np.ndarray,
        popularity: np.ndarray,
    ) -> None:
        import torch

        self.net = net
        self.config = config
        self.items = items
        self.item_ids: np.ndarray = items[ITEM_COL].to_numpy(dtype=np.int64)
        self.item_text_embeddings: np.ndarray = _unit(text_embeddings.astype(np.float32))
        self.popularity = popularity.astype(np.float32)
        self._column_of = {int(item): j for j, item in enumerate(self.item_ids)}
        self._id_order = np.argsort(self.item_ids, kind="stable")  # ids -> columns, in bulk
        self._sorted_ids = self.item_ids[self._id_order]
        self._scenario_of = {s: i + 1 for i, s in enumerate(config["net"].get("scenarios", []))}
        self._unit_vectors = _unit(item_vectors.astype(np.float32))
        padded = np.vstack([np.zeros((1, item_vectors.shape[1]), np.float32), item_vectors])
        self._vectors = torch.from_numpy(padded.astype(np.float32))
        titles = items[TITLE_COL] if TITLE_COL in items.columns else pd.Series([None] * len(items))
        self._titles = [None if pd.isna(t) else str(t) for t in titles]
        self.max_len = int(config["net"]["max_len"])
        self.mmr_candidates = int(config.get("mmr_candidates", 100))
        self.max_mmr_pool = DEFAULT_MAX_MMR_POOL
        self.cold_user_lambda = float(config.get("cold_user_lambda", 0.5))
        self.new_items = NewItemBoost.from_dict(config.get("new_items"))
        self._unseen = net.seen_mask[1:].numpy() <= 0
        self._birth = item_birth_days(items)

    @classmethod
    def load(cls, model_dir: str | Path) -> Recommender:
        """Load a model directory written by training (no network, no workspace)."""
        model_dir = Path(model_dir)
        net, config = artifacts.load_net(model_dir)
        return cls(
            net,
            config,
            artifacts.load_items(model_dir),
            artifacts.load_array(model_dir, artifacts.ITEM_VECTORS_FILE),
            artifacts.load_array(model_dir, artifacts.TEXT_EMBEDDINGS_FILE),
            artifacts.load_array(model_dir, artifacts.POPULARITY_FILE),
        )

    def split_known(self, history: Iterable[int]) -> tuple[list[int], list[int]]:
        """(columns of the known items in order, ids that are not in the catalog)."""
        known, unknown = [], []
        for item in history:
            column = self._column_of.get(int(item))
            (known if column is not None else unknown).append(
                column if column is not None else int(item)
            )
        return known, unknown

    def score(
        self,
        histories: Sequence[Sequence[int]],
        scenarios: Sequence[str | None] | None = None,
        times: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Relevance of every catalog item for each history: (n_users, n_items) float32.

        ``times`` (Unix seconds per history; None or NaN: now) is when each request is
        made: new arrivals (``recloop.model.new_items``) are new relative to it and get
        the model's bonus. Unknown ids are ignored; seen items are not masked. An empty
        history scores items by log popularity.
        """
        import torch  # heavy: only when a model scores

        columns = self._known_columns(histories)
        days = to_days(times, len(columns))
        out = np.empty((len(columns), len(self.item_ids)), dtype=np.float32)
        fallback = np.log1p(self.popularity)
        names = list(scenarios) if scenarios is not None else [None] * len(columns)
        scenario_index = np.array(
            [self._scenario_of.get(s, 0) if s else 0 for s in names], dtype=np.int64
        )
        with torch.inference_mode():
            for start in range(0, len(columns), _CHUNK):
                chunk = columns[start : start + _CHUNK]
                # Each chunk is padded to its longest history (capped at max_len): callers
                # that sort histories by length (the evaluation harness) get short chunks.
                seqs = torch.from_numpy(left_pad([c + 1 for c in chunk], self.max_len))
                scen = torch.from_numpy(scenario_index[start : start + _CHUNK])
                states = self.net.last_states(seqs, self._vectors, scen)
                self.net.logits(
                    states, self._vectors, out=torch.from_numpy(out[start : start + len(chunk)])
                )
        if self.new_items.boost:
            new = new_arrivals(self._unseen, self._birth, days, self.new_items.max_age_days)
            np.add(out, np.float32(self.new_items.boost), out=out, where=new)
        for row, cols in enumerate(columns):
            if not len(cols):
                out[row] = fallback
        return out

    def _known_columns(self, histories: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per history, the columns of its known items in order (one lookup for all)."""
        parts = [np.asarray(h, dtype=np.int64).ravel() for h in histories]
        lengths = [len(p) for p in parts]
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted_ids, flat), len(self._sorted_ids) - 1)
        known = self._sorted_ids[at] == flat if len(self._sorted_ids) else flat < 0
        columns = np.where(known, self._id_order[at], -1)
        return [c[c >= 0] for c in np.split(columns, np.cumsum(lengths)[:-1])]

    def recommend(
        self,
        history: Sequence[int],
        k: int = 10,
        diversity_lambda: float = 1.0,
        exclude: Iterable[int] = (),
        scenario: str | None = None,
        at: float | None = None,
    ) -> list[dict[str, Any]]:
        """Top-``k`` unseen items with scores and a "because you interacted with" item.

        Args:
            history: item ids, oldest first; unknown ids are ignored.
            k: list length.
            diversity_lambda: MMR weight of relevance in [0, 1]; 1 is pure relevance.
            exclude: item ids never to return (besides the history).
            scenario: scenario name the model was trained with, or None.
            at: Unix seconds of the request (what counts as a new arrival); None: now.

        Returns:
            list[dict]: ``item_id``, ``score``, ``because_item_id`` (None for an empty
            history), ``title``; best first.
        """
        return self.recommend_with_report(history, k, diversity_lambda, exclude, scenario, at)[0]

    def recommend_with_report(
        self, history, k=10, diversity_lambda=1.0, exclude=(), scenario=None, at=None
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """:meth:`recommend` plus the history ids that were unknown (and ignored)."""
        if int(k) < 1:
            raise UnusableInputError(f"k must be at least 1, got {k}")
        if not 0.0 <= float(diversity_lambda) <= 1.0:
            raise UnusableInputError(f"diversity lambda must be in [0, 1], got {diversity_lambda}")
        known, unknown = self.split_known(history)
        history_ids = [[self.item_ids[c] for c in known]]
        scores = self.score(history_ids, [scenario], None if at is None else [at])[0]
        scores = scores.astype(np.float64)
        lam = (
            float(diversity_lambda)
            if known
            else min(float(diversity_lambda), self.cold_user_lambda)
        )
        blocked = set(known) | {
            self._column_of[i] for i in map(int, exclude) if i in self._column_of
        }
        if blocked:
            scores[list(blocked)] = -np.inf
        chosen = self._select(scores, int(k), lam)
        return [self._explain(c, float(scores[c]), known) for c in chosen], unknown

    def _select(self, scores: np.ndarray, k: int, lam: float) -> list[int]:
        """Columns of the top ``k``: MMR over at most ``max_mmr_pool`` best candidates (its
        similarity matrix is pool x pool), then the rest of a longer list by relevance."""
        finite = np.flatnonzero(np.isfinite(scores))
        ranked = finite[np.argsort(-scores[finite], kind="stable")]
        if lam >= 1.0:
            return ranked[:k].tolist()
        top = ranked[: min(max(k, self.mmr_candidates), self.max_mmr_pool)]
        emb = self.item_text_embeddings[top]
        picked = top[mmr_rerank(scores[top], emb @ emb.T, k, lam)].tolist()
        if len(picked) < k:  # a list longer than the pool: relevance order after MMR's picks
            picked += ranked[len(top) : len(top) + k - len(picked)].tolist()
        return picked

    def _explain(self, column: int, score: float, history_columns: list[int]) -> dict[str, Any]:
        because = None
        if history_columns:
            sims = self._unit_vectors[history_columns] @ self._unit_vectors[column]
            because = int(self.item_ids[history_columns[int(np.argmax(sims))]])
        return {
            "item_id": int(self.item_ids[column]),
            "score": score,
            "because_item_id": because,
            "title": self._titles[column],
        }
