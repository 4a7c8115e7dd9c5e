"""Every ``RECLOOP_*`` variable the deployment files set is one the settings object reads.

A renamed or misspelt setting in compose, a Dockerfile or a work-pool template would be
ignored silently (the settings ignore unknown variables), so the names are checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY_FILES = [
    REPO / "docker" / "compose.yaml",
    *sorted((REPO / "docker").glob("*.Dockerfile")),
    *sorted((REPO / "docker" / "workpools").glob("*.json")),
    REPO / "mlflow" / "MLproject",
]
# Not settings: compose interpolation variables and the prefect.yaml pull-step directory.
NOT_SETTINGS = {"RECLOOP_VERSION", "RECLOOP_MODEL_NAME", "RECLOOP_PROJECT_DIR"}


def settings_variables() -> set[str]:
    from pydantic import BaseModel

    from recloop.settings import Settings

    names = set()
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names |= {f"RECLOOP_{name}__{sub}".upper() for sub in field.annotation.model_fields}
        else:
            names.add(f"RECLOOP_{name}".upper())
    return names


def test_deployment_files_use_real_setting_names():
    known = settings_variables()
    used = {}
    for path in DEPLOY_FILES:
        for name in re.findall(r"\bRECLOOP_[A-Z0-9_]+", path.read_text()):
            used.setdefault(name.removesuffix("_FILE"), path.name)
    assert len(used) >= 8, used
    unknown = {n: f for n, f in used.items() if n not in known and n not in NOT_SETTINGS}
    assert not unknown, unknown
