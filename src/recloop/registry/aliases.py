"""Moving the ``champion`` alias: promotion, rollback, and the history of both.

Alias semantics (documented for operators in ``docs/registry.md``, enforced here and in
``recloop.registry.candidates`` / ``recloop.gate.record``):

- ``champion``: the version that serves; it only ever names a version that passed the gate
  (or was force-promoted with a recorded reason) and that loaded and answered a request;
- ``challenger``: the candidate under evaluation, or the last one that passed and is not
  promoted yet. A promotion removes it; a rejection removes it from the rejected version,
  which keeps the tag ``recloop.gate.decision = rejected`` instead. So the registry's model
  list headlines the champion, never a turned-down candidate;
- ``previous``: the champion the current one replaced, where a rollback returns.

After every move the descriptions of the versions involved and of the registered model are
re-rendered (``recloop.registry.describe``).

MLflow keeps no history of aliases, so every promotion and rollback is appended to a JSON
list in a registered-model tag (``recloop.promotion_history``). The list is the source of
truth for "who was champion when" and for rolling back more than once: replaying it gives a
stack of reigning champions; a promotion pushes, a rollback pops.

:func:`promote` and :func:`rollback` hold the registry lock (``recloop.registry.lock``) for
their whole read-modify-write, whoever calls them (CLI, flow, simulation), so concurrent
changes serialize: none is lost, each history entry's ``replaced`` is the previous entry's
champion, and ``previous`` matches the history. Their targets must load and answer a
request first (``recloop.registry.load_check``); a broken one is refused and nothing moves.
"""

from __future__ import annotations

import getpass
import json
import time
from dataclasses import asdict, dataclass

from recloop.errors import NotFoundError, RecloopError
from recloop.registry.client import (
    client,
    get_alias,
    get_champion,
    get_version,
    read_model_tag_json,
    set_version_tags,
)
from recloop.registry.load_check import check_serves
from recloop.registry.lock import registry_lock
from recloop.registry.tags import (
    FORCED,
    PASSED,
    TAG_FORCED_REASON,
    TAG_GATE_DECISION,
    TAG_HISTORY,
    TAG_PROMOTED_AT,
    TAG_ROLLED_BACK_AT,
)
from recloop.settings import Settings


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
    client(settings).set_registered_model_tag(
        settings.registry.model_name, TAG_HISTORY, json.dumps(history)
    )


def promote(
    settings: Settings, version: str | int, *, force: bool = False, reason: str | None = None
) -> HistoryEntry:
    """Make ``version`` the champion; the old champion becomes ``previous``.

    Without ``force`` only a version whose gate decision is ``passed`` can be promoted, so
    ``champion`` always names a version that passed. A forced promotion needs a reason and
    is recorded as forced (tag and history). Forced or not, the version must load and
    answer a request (``recloop.registry.load_check``) before anything moves. Aliases move
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
        mlflow_client = client(settings)
        name, reg = settings.registry.model_name, settings.registry
        now = int(time.time())
        if champion is not None:
            mlflow_client.set_registered_model_alias(name, reg.previous_alias, champion.version)
        mlflow_client.set_registered_model_alias(name, reg.champion_alias, info.version)
        challenger = get_alias(settings, reg.challenger_alias)
        if challenger is not None and challenger.version == info.version:
            mlflow_client.delete_registered_model_alias(name, reg.challenger_alias)
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
        _redescribe(settings, [info.version, champion.version if champion else None])
    return entry


def _redescribe(settings: Settings, versions: list[str | None]) -> None:
    """Re-render the descriptions an alias move changed: the versions and the model's."""
    from recloop.registry.describe import describe_model, describe_version

    for version in versions:
        if version is not None:
            describe_version(settings, version)
    describe_model(settings, promotion_history(settings))


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
        mlflow_client = client(settings)
        name = reg.model_name
        now = int(time.time())
        mlflow_client.set_registered_model_alias(name, reg.champion_alias, target.version)
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
            mlflow_client.set_registered_model_alias(name, reg.previous_alias, stack[-2])
        else:
            mlflow_client.delete_registered_model_alias(name, reg.previous_alias)
        if champion is not None:
            set_version_tags(settings, champion.version, {TAG_ROLLED_BACK_AT: str(now)})
        _append_history(settings, entry)
        _redescribe(settings, [target.version, champion.version if champion else None])
    return entry


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
