"""The MLflow model registry as recloop uses it: versions, aliases, lineage tags.

Aliases (never stages): ``champion`` serves production, ``challenger`` is the candidate
under evaluation, ``previous`` is the champion it replaced. Tag keys are constants here so
every stage (drift reads the champion's training window, the gate writes its decision)
spells them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from recloop.settings import Settings

# Model-version tags written when a candidate is registered.
TAG_TRAIN_MODE = "recloop.train_mode"  # "full" | "incremental"
TAG_ENCODER_MODE = "recloop.encoder_mode"  # "frozen" | "lora" | "full"
TAG_WINDOW_START = "recloop.window_start"  # Unix seconds, inclusive
TAG_WINDOW_END = "recloop.window_end"  # Unix seconds, exclusive
TAG_BATCH_IDS = "recloop.batch_ids"  # comma-separated ingest batch ids
TAG_PARENT_VERSION = "recloop.parent_version"  # registry version it was warm-started from
TAG_CODE_VERSION = "recloop.code_version"  # recloop version (+ git commit when known)
TAG_GATE_DECISION = "recloop.gate.decision"  # "passed" | "rejected" | "forced"


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


def get_alias(settings: Settings, alias: str) -> ModelVersionInfo | None:
    """The version an alias names, or None when the model or alias does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from recloop.tracking import configure_mlflow

    configure_mlflow(settings)
    name = settings.registry.model_name
    try:
        mv = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    tags = dict(mv.tags or {})
    return ModelVersionInfo(
        version=str(mv.version),
        run_id=mv.run_id,
        model_uri=f"models:/{name}/{mv.version}",
        window_start=_int_or_none(tags.get(TAG_WINDOW_START)),
        window_end=_int_or_none(tags.get(TAG_WINDOW_END)),
        created_at=int(mv.creation_timestamp // 1000),
        tags=tags,
    )


def get_champion(settings: Settings) -> ModelVersionInfo | None:
    """The production model (alias ``champion``), or None before the first promotion."""
    return get_alias(settings, settings.registry.champion_alias)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
