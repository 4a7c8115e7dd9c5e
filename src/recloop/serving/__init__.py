"""Serving: the ``Recommender`` (item index, top-K, MMR, explanations) and its MLflow pyfunc."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recloop.serving.recommender import Recommender


def load_recommender(model_uri_or_dir: str) -> Recommender:
    """Load a recommender from a model directory or an MLflow model URI.

    Args:
        model_uri_or_dir: a folder written by training (or a downloaded pyfunc), or
            ``models:/name@alias``, ``models:/name/3``, ``runs:/<id>/model``.

    Returns:
        Recommender: ready to score.
    """
    from recloop.serving.loading import resolve_model_dir
    from recloop.serving.recommender import Recommender

    return Recommender.load(resolve_model_dir(str(model_uri_or_dir)))
