"""Serving: the ``Recommender`` (item index, top-K, MMR, explanations) and its MLflow pyfunc."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from recloop.serving.loading import local_model_dir
from recloop.serving.recommender import Recommender

if TYPE_CHECKING:
    from recloop.settings import Settings


def load_recommender(model_uri_or_dir: str | Path, settings: Settings | None = None) -> Recommender:
    """Load a recommender from a model directory or an MLflow model URI.

    A URI is resolved in ``settings``' MLflow store (default: the store the process already
    uses, else the workspace of the environment) and its download is deleted once the
    recommender holds the model in memory.

    Args:
        model_uri_or_dir: a folder written by training (or a downloaded pyfunc), or
            ``models:/name@alias``, ``models:/name/3``, ``runs:/<id>/model``.
        settings: the workspace; also sets the MMR pool bound (``serving.max_mmr_pool``).

    Returns:
        Recommender: ready to score.
    """
    with local_model_dir(model_uri_or_dir, settings) as model_dir:
        recommender = Recommender.load(model_dir)
    if settings is not None:
        recommender.max_mmr_pool = settings.serving.max_mmr_pool
    return recommender
