"""The MLflow model registry as recloop uses it: versions, aliases, lineage tags, history.

Aliases (never stages): ``champion`` serves production, ``challenger`` is the candidate
under evaluation (it stays on a rejected candidate until the next one, so an operator can
see what was turned down and why), ``previous`` is the champion the current one replaced.
Tag keys are constants here so every stage (drift reads the champion's training window,
the gate writes its decision) spells them the same way.

MLflow keeps no history of aliases, so every promotion and rollback is appended to a JSON
list in a registered-model tag (``recloop.promotion_history``). The list is the source of
truth for "who was champion when" and for rolling back more than once: replaying it gives a
stack of reigning champions; a promotion pushes, a rollback pops.

Every function here that moves an alias or writes the history (:func:`promote`,
:func:`rollback`, :func:`register_candidate`) holds the registry lock
(``recloop.registry_lock``) for its whole read-modify-write, whoever calls it (CLI, flow,
simulation), so concurrent changes serialize: none is lost, each history entry's
``replaced`` is the previous entry's champion, and ``previous`` matches the history.
Promotion and rollback targets must load and answer a request first
(``recloop.load_check``); a broken one is refused and nothing moves.
"""

from __future__ import annotations

import getpass
import json
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recloop.errors import NotFoundError, RecloopError
from recloop.load_check import check_serves
from recloop.registry_lock import registry_lock
from recloop.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

# Model-version tags written when a candidate is registered.
TAG_TRAIN_MODE = "recloop.train_mode"  # "full" | "incremental"
TAG_ENCODER_MODE = "recloop.encoder_mode"  # "frozen" | "lora" | "full"
TAG_WINDOW_START = "recloop.window_start"  # Unix seconds, inclusive
TAG_WINDOW_END = "recloop.window_end"  # Unix seconds, exclusive
TAG_BATCH_IDS = "recloop.batch_ids"  # comma-separated ingest batch ids
TAG_PARENT_VERSION = "recloop.parent_version"  # registry version it was warm-started from
TAG_CODE_VERSION = "recloop.code_version"  # recloop version (+ git commit when known)
TAG_GATE_DECISION = "recloop.gate.decision"  # "passed" | "rejected" | "forced"
TAG_GATE_REASONS = "recloop.gate.reasons"  # "; "-joined reasons of a rejection
TAG_GATE_RULE = "recloop.gate.rule"  # "compare" | "bootstrap"
TAG_GATE_POLICY = "recloop.gate.policy_version"
TAG_FORCED_REASON = "recloop.forced_reason"  # operator's reason for a forced promotion
TAG_PROMOTED_AT = "recloop.promoted_at"  # Unix seconds of the latest promotion
TAG_ROLLED_BACK_AT = "recloop.rolled_back_at"  # Unix seconds it was rolled back from
# Registered-model tags.
TAG_HISTORY = "recloop.promotion_history"  # JSON list of HistoryEntry dicts
TAG_LAST_DECISION = "recloop.last_decision"  # JSON of the latest gate decision

PASSED = "passed"
REJECTED = "rejected"
FORCED = "forced"


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


@dataclass(frozen=True)
class CandidateLineage:
    """Where a candidate came from; written as model-version tags at registration."""

    train_mode: str  # "full" | "incremental"
    window_start: int | None
    window_end: int | None
    encoder_mode: str | None = None
    batch_ids: tuple[str, ...] = ()
    parent_version: str | None = None

    def to_tags(self) -> dict[str, str]:
        tags = {
            TAG_TRAIN_MODE: self.train_mode,
            TAG_BATCH_IDS: ",".join(str(b) for b in self.batch_ids),
            TAG_CODE_VERSION: code_version(),
        }
        optional = {
            TAG_ENCODER_MODE: self.encoder_mode,
            TAG_WINDOW_START: self.window_start,
            TAG_WINDOW_END: self.window_end,
            TAG_PARENT_VERSION: self.parent_version,
        }
        tags.update({k: str(v) for k, v in optional.items() if v is not None})
        return tags


@dataclass(frozen=True)
class HistoryEntry:
    """One alias move, as kept in the registered model's promotion history."""

    action: str  # "promote" | "rollback"
    version: str  # the champion after the move
    replaced: str | None  # the champion before the move
    at: int  # Unix seconds
    by: str
    forced: bool = False
    reason: str | None = None
    decision: str | None = None  # the version's gate decision at the time


@dataclass
class RegisteredCandidate:
    """What :func:`register_candidate` created."""

    version: str
    run_id: str
    model_uri: str
    tags: dict[str, str] = field(default_factory=dict)


def code_version() -> str:
    """recloop's version plus the git commit of the source tree when there is one."""
    from recloop import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+g{commit}" if commit else __version__


def _client(settings: Settings):
    from mlflow import MlflowClient

    from recloop.tracking import configure_mlflow

    configure_mlflow(settings)
    return MlflowClient()


def _info(settings: Settings, mv) -> ModelVersionInfo:
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

    client = _client(settings)
    try:
        mv = client.get_model_version_by_alias(settings.registry.model_name, alias)
    except MlflowException:
        return None
    return _info(settings, mv)


def get_champion(settings: Settings) -> ModelVersionInfo | None:
    """The production model (alias ``champion``), or None before the first promotion."""
    return get_alias(settings, settings.registry.champion_alias)


def get_version(settings: Settings, version: str | int) -> ModelVersionInfo:
    """A registered version; raises NotFoundError (exit 2) when it does not exist."""
    from mlflow.exceptions import MlflowException

    client = _client(settings)
    name = settings.registry.model_name
    if not str(version).isdigit():
        raise NotFoundError(f"model version must be a positive integer, got {version!r}")
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException:
        raise NotFoundError(f"model {name!r} has no version {version}") from None
    return _info(settings, mv)


def log_training_data(events: pd.DataFrame, lineage: CandidateLineage) -> None:
    """Log the training events as an MLflow dataset input of the active run (lineage).

    MLflow stores the dataset's digest, schema and row count, not the rows: the events stay
    in recloop's store, where the window in the dataset name finds them again.
    """
    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.pandas_dataset import PandasDataset

    name = f"events[{lineage.window_start},{lineage.window_end})"
    # A code source (recloop's store query), not a URI: the store URL may hold credentials.
    source = CodeDatasetSource(
        {
            "recloop.source": "event store",
            "window_start": str(lineage.window_start),
            "window_end": str(lineage.window_end),
        }
    )
    dataset = PandasDataset(events, source=source, name=name)
    tags = {"batch_ids": ",".join(lineage.batch_ids)[:500], "train_mode": lineage.train_mode}
    mlflow.log_input(dataset, context="training", tags=tags)


def register_candidate(
    settings: Settings,
    model_dir: str | Path,
    lineage: CandidateLineage,
    *,
    train_events: pd.DataFrame | None = None,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    log_model=None,
) -> RegisteredCandidate:
    """Log a trained model as a new registered version and make it the ``challenger``.

    Uses the active MLflow run when there is one (the flow's training run), otherwise
    starts a run of its own. The version gets the lineage tags; the training data becomes
    the run's dataset input. Logging runs unlocked (it can take minutes); tagging and the
    alias move hold the registry lock, so a concurrent promotion cannot drop the new
    ``challenger`` alias.

    Args:
        settings: recloop settings (registry section names the model and aliases).
        model_dir: a directory ``Recommender.load`` reads (the trainer's output).
        lineage: training mode, data window, batch ids, parent version.
        train_events: the events the model was trained on (logged as a dataset input).
        metrics: metric dict with ``name@k`` keys (logged as ``name_at_k``).
        params: run parameters (training settings).
        log_model: ``(model_dir, registered_model_name) -> (model_uri, version)``; default
            ``recloop.serving.packaging.log_recommender``.

    Returns:
        RegisteredCandidate: version, run id and ``models:/name/version`` URI.
    """
    import mlflow

    if log_model is None:
        from functools import partial

        from recloop.serving.packaging import log_recommender

        log_model = partial(log_recommender, serving=settings.serving)
    client = _client(settings)
    name = settings.registry.model_name
    own_run = mlflow.active_run() is None
    run = mlflow.start_run(run_name=f"candidate-{lineage.window_end}") if own_run else None
    try:
        run_id = mlflow.active_run().info.run_id
        mlflow.set_tags({k: v for k, v in lineage.to_tags().items() if v})
        if params:
            mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()})
        if train_events is not None:
            log_training_data(train_events, lineage)
        _, version = log_model(model_dir, registered_model_name=name)
    finally:
        if run is not None:
            mlflow.end_run()
    if version is None:
        raise RecloopError(f"logging {model_dir} registered no version of {name!r}")
    tags = lineage.to_tags()
    with registry_lock(settings):
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), key, value)
        client.set_registered_model_alias(name, settings.registry.challenger_alias, str(version))
    return RegisteredCandidate(str(version), run_id, f"models:/{name}/{version}", tags)


def metric_key(name: str) -> str:
    """MLflow spelling of a recloop metric key: ``ndcg@10`` -> ``ndcg_at_10``."""
    return name.replace("@", "_at_")


def set_version_tags(settings: Settings, version: str, tags: dict[str, str]) -> None:
    """Write several model-version tags (the gate's decision and check values)."""
    client = _client(settings)
    for key, value in tags.items():
        client.set_model_version_tag(settings.registry.model_name, str(version), key, value)


def record_last_decision(settings: Settings, summary: dict[str, Any]) -> None:
    """Keep the latest gate decision on the registered model, for ``recloop status``."""
    client = _client(settings)
    client.set_registered_model_tag(
        settings.registry.model_name, TAG_LAST_DECISION, json.dumps(summary, default=str)
    )


def read_model_tag_json(settings: Settings, key: str) -> Any:
    """A registered-model tag parsed as JSON, or None (no model, no tag, bad JSON)."""
    from mlflow.exceptions import MlflowException

    client = _client(settings)
    try:
        raw = client.get_registered_model(settings.registry.model_name).tags.get(key)
    except MlflowException:
        return None
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None


def promotion_history(settings: Settings) -> list[HistoryEntry]:
    """Every recorded promotion and rollback, oldest first."""
    raw = read_model_tag_json(settings, TAG_HISTORY) or []
    return [HistoryEntry(**entry) for entry in raw]


def champion_stack(history: list[HistoryEntry]) -> list[str]:
    """Champions in order of succession, rolled-back reigns removed (top = current)."""
    stack: list[str] = []
    for entry in history:
        if entry.action == "promote":
            stack.append(entry.version)
        elif entry.action == "rollback" and stack:
            stack.pop()
            if not stack or stack[-1] != entry.version:
                stack.append(entry.version)
    return stack


def _append_history(settings: Settings, entry: HistoryEntry) -> None:
    """Append one entry to the history tag; callers hold the registry lock."""
    history = [asdict(e) for e in promotion_history(settings)] + [asdict(entry)]
    history = history[-settings.registry.history_max_entries :]
    _client(settings).set_registered_model_tag(
        settings.registry.model_name, TAG_HISTORY, json.dumps(history)
    )


def promote(
    settings: Settings, version: str | int, *, force: bool = False, reason: str | None = None
) -> HistoryEntry:
    """Make ``version`` the champion; the old champion becomes ``previous``.

    Without ``force`` only a version whose gate decision is ``passed`` can be promoted, so
    ``champion`` always names a version that passed. A forced promotion needs a reason and
    is recorded as forced (tag and history). Forced or not, the version must load and
    answer a request (``recloop.load_check``) before anything moves. Aliases move
    previous-first: if the process dies between the two moves, ``champion`` still names
    the old, valid champion. Everything from reading the champion to writing the history
    happens under the registry lock.

    Raises:
        NotFoundError: the version does not exist (exit 2).
        UnusableInputError: the version's artifacts do not load or answer (exit 2).
        RegistryBusyError: the registry lock was not had in time (exit 2).
        RecloopError: exit 2 when it has not passed and is not forced, when a forced
            promotion has no reason, or when it already is the champion.
    """
    if force and not (reason and reason.strip()):
        raise RecloopError("a forced promotion needs --reason", exit_code=2)
    with registry_lock(settings):
        info = get_version(settings, version)
        decision = info.tags.get(TAG_GATE_DECISION)
        if not force and decision != PASSED:
            raise RecloopError(
                f"version {info.version} has not passed the gate (decision: "
                f"{decision or 'none'}); use --force --reason TEXT to promote it anyway",
                exit_code=2,
            )
        champion = get_champion(settings)
        if champion is not None and champion.version == info.version:
            raise RecloopError(f"version {info.version} is already the champion", exit_code=2)
        check_serves(settings, info)
        client = _client(settings)
        name, reg = settings.registry.model_name, settings.registry
        now = int(time.time())
        if champion is not None:
            client.set_registered_model_alias(name, reg.previous_alias, champion.version)
        client.set_registered_model_alias(name, reg.champion_alias, info.version)
        challenger = get_alias(settings, reg.challenger_alias)
        if challenger is not None and challenger.version == info.version:
            client.delete_registered_model_alias(name, reg.challenger_alias)
        tags = {TAG_PROMOTED_AT: str(now)}
        if force:
            tags.update({TAG_GATE_DECISION: FORCED, TAG_FORCED_REASON: reason or ""})
        set_version_tags(settings, info.version, tags)
        entry = HistoryEntry(
            action="promote",
            version=info.version,
            replaced=champion.version if champion else None,
            at=now,
            by=_operator(),
            forced=force,
            reason=reason,
            decision=FORCED if force else decision,
        )
        _append_history(settings, entry)
    return entry


def rollback(settings: Settings, reason: str | None = None) -> HistoryEntry:
    """Point ``champion`` back at ``previous``; ``previous`` moves one reign further back.

    Repeated rollbacks walk back through the promotion history. The rolled-back version
    gets a ``recloop.rolled_back_at`` tag. The target must load and answer a request
    first; the whole move happens under the registry lock.

    Raises:
        NotFoundError: there is no ``previous`` version to go back to.
        UnusableInputError: the ``previous`` version does not load or answer (exit 2).
        RegistryBusyError: the registry lock was not had in time (exit 2).
    """
    reg = settings.registry
    with registry_lock(settings):
        champion = get_champion(settings)
        target = get_alias(settings, reg.previous_alias)
        if target is None:
            raise NotFoundError("nothing to roll back to: no 'previous' version")
        check_serves(settings, target)
        client = _client(settings)
        name = reg.model_name
        now = int(time.time())
        client.set_registered_model_alias(name, reg.champion_alias, target.version)
        entry = HistoryEntry(
            action="rollback",
            version=target.version,
            replaced=champion.version if champion else None,
            at=now,
            by=_operator(),
            reason=reason,
            decision=target.tags.get(TAG_GATE_DECISION),
        )
        stack = champion_stack([*promotion_history(settings), entry])
        if len(stack) >= 2 and stack[-2] != target.version:
            client.set_registered_model_alias(name, reg.previous_alias, stack[-2])
        else:
            client.delete_registered_model_alias(name, reg.previous_alias)
        if champion is not None:
            set_version_tags(settings, champion.version, {TAG_ROLLED_BACK_AT: str(now)})
        _append_history(settings, entry)
    return entry


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
