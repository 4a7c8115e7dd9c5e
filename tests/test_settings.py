"""The one settings object: environment, per-run overrides, workspace copies."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_overrides_replace_nested_values_and_keep_the_rest(monkeypatch, tmp_path: Path):
    from recloop.settings import Settings

    monkeypatch.setenv("RECLOOP_TRAIN__HIDDEN_DIM", "24")
    base = Settings(home=tmp_path)
    tuned = base.with_overrides({"train": {"epochs": 3, "patience": 2}})

    assert (tuned.train.epochs, tuned.train.patience) == (3, 2)
    assert tuned.train.hidden_dim == 24  # from the environment, untouched
    assert tuned.home_dir == base.home_dir
    assert base.train.epochs != 3  # the original is not modified
    assert base.with_overrides(None) is base


def test_unknown_or_invalid_override_is_an_error(tmp_path: Path):
    from pydantic import ValidationError

    from recloop.settings import Settings

    base = Settings(home=tmp_path)
    with pytest.raises(ValueError, match=r"unknown setting 'train\.epochz'"):
        base.with_overrides({"train": {"epochz": 3}})
    with pytest.raises(ValidationError):
        base.with_overrides({"train": {"epochs": 0}})


def test_simulation_overrides_cap_from_scratch_training(monkeypatch, tmp_path: Path):
    from recloop.settings import Settings

    monkeypatch.setenv("RECLOOP_LOOP__SIMULATE_MAX_EPOCHS", "5")
    monkeypatch.setenv("RECLOOP_LOOP__SIMULATE_PATIENCE", "2")
    settings = Settings(home=tmp_path)
    assert settings.loop.simulation_overrides() == {
        "train": {"epochs": 5, "patience": 2, "window_overlap": 0.0}
    }
    capped = settings.with_overrides(settings.loop.simulation_overrides())
    assert (capped.train.epochs, capped.train.patience) == (5, 2)
    assert (settings.train.window_overlap, capped.train.window_overlap) == (0.5, 0.0)

    monkeypatch.setenv("RECLOOP_LOOP__SIMULATE_MAX_EPOCHS", "0")
    monkeypatch.setenv("RECLOOP_LOOP__SIMULATE_PATIENCE", "0")
    keep_all = Settings(home=tmp_path, loop={"simulate_window_overlap": None})
    assert keep_all.loop.simulation_overrides() == {}
