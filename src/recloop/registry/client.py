"""Reading the MLflow model registry: versions, aliases and the tags other stages need.

Aliases (never stages): ``champion`` serves production, ``challenger`` is the candidate
under evaluation (or the last one that passed, not yet promoted; a rejected version loses
it and carries ``recloop.gate.decision = rejected``), ``previous`` is the champion the
current one replaced. See ``recloop.registry.aliases`` and ``docs/registry.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recloop.errors import NotFoundError
from recloop.registry.tags import (
    TAG_GATE_DECISION,
    TAG_LAST_DECISION,
    TAG_PARENT_VERSION,
    TAG_TRAIN_MODE,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
)
from recloop.settings import Settings
from recloop.tracking import configure_mlflow


@dataclass(frozen=True)
class ModelVersionInfo:
    """What other stages need to know about a registered version."""

    version: str
    run_id: str | None
    model_uri: str
    window_start: int | None
    window_end: int | None
    created_at: int  # Unix seconds
    tags: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for ``recloop status --json``."""
        return {
            "version": self.version,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "created_at": self.created_at,
            "gate_decision": self.tags.get(TAG_GATE_DECISION),
            "train_mode": self.tags.get(TAG_TRAIN_MODE),
            "parent_version": self.tags.get(TAG_PARENT_VERSION),
        }


def client(settings: Settings):
    """An ``MlflowClient`` on the workspace's tracking and registry store."""
    from mlflow import MlflowClient  # mlflow takes seconds to import: only when used

    configure_mlflow(settings)
    return MlflowClient()


def version_info(settings: Settings, mv: Any) -> ModelVersionInfo:
    """An MLflow ``ModelVersion`` as the typed record the stages pass around."""
    tags = dict(mv.tags or {})
    return ModelVersionInfo(
        version=str(mv.version),
        run_id=mv.run_id,
        model_uri=f"models:/{settings.registry.model_name}/{mv.version}",
        window_start=_int_or_none(tags.get(TAG_WINDOW_START)),
        window_end=_int_or_none(tags.get(TAG_WINDOW_END)),
        created_at=int(mv.creation_timestamp // 1000),
        tags=tags,
    )


def get_alias(settings: Settings, alias: str) -> ModelVersionInfo | None:
    """The version an alias names, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(settings)
    try:
        mv = mlflow_client.get_model_version_by_alias(settings.registry.model_name, alias)
    except MlflowException:
        return None
    return version_info(settings, mv)


def get_champion(settings: Settings) -> ModelVersionInfo | None:
    """The production model (alias ``champion``), or None before the first promotion."""
    return get_alias(settings, settings.registry.champion_alias)


def get_version(settings: Settings, version: str | int) -> ModelVersionInfo:
    """A registered version; raises NotFoundError (exit 2) when it does not exist."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(settings)
    name = settings.registry.model_name
    if not str(version).isdigit():
        raise NotFoundError(f"model version must be a positive integer, got {version!r}")
    try:
        mv = mlflow_client.get_model_version(name, str(version))
    except MlflowException:
        raise NotFoundError(f"model {name!r} has no version {version}") from None
    return version_info(settings, mv)


def find_versions(settings: Settings, tag: str, value: str) -> list[ModelVersionInfo]:
    """Versions of the model whose ``tag`` equals ``value``, oldest first."""
    name = settings.registry.model_name
    found = client(settings).search_model_versions(f"name = '{name}' and tags.`{tag}` = '{value}'")
    return [version_info(settings, mv) for mv in sorted(found, key=lambda v: int(v.version))]


def latest_version(settings: Settings) -> ModelVersionInfo | None:
    """The champion, else the newest registered version (before any promotion), else None."""
    from mlflow.exceptions import MlflowException

    champion = get_champion(settings)
    if champion is not None:
        return champion
    name = settings.registry.model_name
    try:
        versions = client(settings).search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    if not versions:
        return None
    return version_info(settings, max(versions, key=lambda v: int(v.version)))


def set_version_tags(settings: Settings, version: str, tags: dict[str, str]) -> None:
    """Write several model-version tags (the gate's decision and check values)."""
    mlflow_client = client(settings)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(settings.registry.model_name, str(version), key, value)


def record_last_decision(settings: Settings, summary: dict[str, Any]) -> None:
    """Keep the latest gate decision on the registered model, for ``recloop status``."""
    client(settings).set_registered_model_tag(
        settings.registry.model_name, TAG_LAST_DECISION, json.dumps(summary, default=str)
    )


def read_model_tag_json(settings: Settings, key: str) -> Any:
    """A registered-model tag parsed as JSON, or None (no model, no tag, bad JSON)."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client(settings)
    try:
        raw = mlflow_client.get_registered_model(settings.registry.model_name).tags.get(key)
    except MlflowException:
        return None
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
