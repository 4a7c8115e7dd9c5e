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
    """Events of MovieLens' first 80 users (about 9k events) and the full catalog."""
    events = movielens.events[movielens.events["user_id"] <= 80].reset_index(drop=True)
    return events, movielens.items


@pytest.fixture(scope="session")
def make_settings():
    """The :func:`tiny_settings` factory, for tests that need several variants."""
    return tiny_settings
