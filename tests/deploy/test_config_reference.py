"""``docs/configuration.md`` is generated from the settings object and kept up to date."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "docs" / "gen_config_reference.py"
PAGE = REPO / "docs" / "configuration.md"


def test_committed_reference_matches_the_settings_object():
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def documented_variables() -> list[str]:
    return re.findall(r"^\| `(RECLOOP_[A-Z0-9_]+)` \|", PAGE.read_text(), flags=re.M)


def test_every_field_has_one_row():
    from pydantic import BaseModel

    from recloop.settings import Settings

    expected = []
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            expected += [f"RECLOOP_{name}__{sub}".upper() for sub in field.annotation.model_fields]
        else:
            expected.append(f"RECLOOP_{name}".upper())
    assert sorted(documented_variables()) == sorted(expected)


def test_documented_names_are_the_ones_settings_read(monkeypatch, tmp_path):
    from recloop.settings import Settings

    names = documented_variables()
    assert "RECLOOP_TRAIN__DEVICE" in names and "RECLOOP_REGISTRY__TRACKING_URI" in names
    monkeypatch.setenv("RECLOOP_HOME", str(tmp_path))
    monkeypatch.setenv("RECLOOP_TRAIN__DEVICE", "cuda:1")
    monkeypatch.setenv("RECLOOP_REGISTRY__TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("RECLOOP_NOTIFY__APPRISE_URLS", '["json://127.0.0.1:9/x"]')
    settings = Settings()
    assert settings.home == tmp_path and settings.train.device == "cuda:1"
    assert settings.mlflow_tracking_uri.get_secret_value() == "http://mlflow:5000"
    assert [u.get_secret_value() for u in settings.notify.apprise_urls] == ["json://127.0.0.1:9/x"]
