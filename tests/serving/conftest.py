"""Fixtures of the serving tests: a small model trained once on a real MovieLens slice."""

from __future__ import annotations

import pytest

from ..training.conftest import tiny_settings  # one tiny network for every test package


@pytest.fixture(scope="session")
def ml_slice(movielens):
    """Events of MovieLens' first 120 users (about 13k events) and the full catalog."""
    events = movielens.events[movielens.events["user_id"] <= 120].reset_index(drop=True)
    return events, movielens.items


@pytest.fixture(scope="session")
def trained_model_dir(ml_slice, embedding_cache_dir, tmp_path_factory):
    """One small model trained for the serving tests (3 epochs, hybrid, frozen encoder)."""
    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    home = tmp_path_factory.mktemp("serving-home")
    settings = tiny_settings(home, embedding_cache_dir, hidden_dim=32, epochs=4, max_len=30)
    return train_recommender(settings, events, items, out_dir=home / "model").model_dir


@pytest.fixture(scope="session")
def make_settings():
    """The :func:`tiny_settings` factory, for tests that need several variants."""
    return tiny_settings
