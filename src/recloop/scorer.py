"""The one interface of a model that scores the catalog, for everything that scores one.

The evaluation harness, the promotion gate and the drift monitor all ask a model the same
question: scores for every catalog item, for a batch of histories, at given request times
and in given scenarios. Every scorer (the trained ``Recommender``, the baselines, the
gate's proxy, test doubles) takes that whole request, so callers always pass it and never
inspect what a model accepts; a model that has no use for the scenario or the time (the
baselines) ignores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Scorer(Protocol):
    """Catalog ids and full-catalog scores for histories.

    ``score`` returns ``(n_histories, len(item_ids))`` floats, column j scoring
    ``item_ids[j]``, without masking seen items (the harness does that).
    ``scenarios``: one scenario name (or None) per history; ``times``: Unix seconds of each
    request (what counts as "now", e.g. for new arrivals; None or NaN: now). None for
    either: not known.
    """

    item_ids: np.ndarray

    def score(
        self,
        histories: Sequence[Sequence[int]],
        *,
        scenarios: Sequence[str | None] | None = None,
        times: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray: ...


@runtime_checkable
class ListRecommender(Scorer, Protocol):
    """A scorer that also returns re-ranked lists (MMR), as ``recloop.serving.Recommender``.

    ``recommend`` returns dicts with ``item_id`` (and ``score``...), best first;
    ``diversity_lambda`` is MMR's weight of relevance (1: relevance only), ``at`` the Unix
    seconds of the request (None: now).
    """

    def recommend(
        self,
        history: Sequence[int],
        k: int = 10,
        diversity_lambda: float = 1.0,
        exclude: Sequence[int] = (),
        scenario: str | None = None,
        at: float | None = None,
    ) -> list[dict[str, Any]]: ...
