"""Fixtures of the training tests: small real MovieLens slices and tiny network settings."""

from __future__ import annotations

from pathlib import Path

import pytest


def tiny_settings(home: Path, cache_dir: Path, **train):
    """Settings with a network small enough to train in seconds on 2 cores."""
    from recloop.settings import Settings

    base = {
        "device": "cpu",
        "hidden_dim": 16,
        "num_heads": 2,
        "num_layers": 1,
        "max_len": 20,
        "dropout": 0.1,
        "epochs": 2,
        "batch_size": 32,
        "warmup_steps": 2,
        "lr": 5e-3,
    }
    return Settings(home=home, cache_dir=cache_dir, train={**base, **train})


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
