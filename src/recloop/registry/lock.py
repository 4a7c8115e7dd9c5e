"""One writer in the model registry: a lock held by every change of aliases and history.

MLflow has no compare-and-set for aliases or registered-model tags, and recloop keeps the
promotion history as a JSON list in one such tag, so each move is a read-modify-write of
several values. Two unguarded moves lose updates (a history entry vanishes, two
promotions replace the same champion, ``previous`` disagrees with the history). Every
function that moves an alias or writes the history (``recloop.registry.promote`` /
``rollback`` / ``register_candidate``, the gate's ``apply_decision``) holds this lock.

**Where the lock lives: recloop's own store** (``settings.store_url``), not MLflow's.
MLflow's backend may sit behind a tracking server (``http://...``) that recloop only
reaches over REST, with no SQL connection to lock with; recloop's store is always a
database recloop connects to itself, and every process that moves aliases (the CLI on an
operator's machine, flow runs on any worker) already shares it.

- **PostgreSQL**: a session advisory lock (``pg_advisory_lock``) on a connection of its
  own, in autocommit (no transaction stays open while held). Waiting is bounded by
  ``lock_timeout``. The lock belongs to the connection: a crashed or killed holder's
  connection closes and PostgreSQL releases it at once, so nothing is left to expire.
- **SQLite**: ``BEGIN IMMEDIATE`` on a small SQLite file next to the store
  (``recloop.db-registry-lock``), waiting up to the busy timeout. A separate file, because
  the store's own write lock would stall ingestion for as long as a promotion holds it.
  The OS releases the file lock when its process dies. (SQLite does not span machines;
  nor does this lock.)

A holder keeps the lock for seconds: a load check of the target version and a few
registry calls. Training and gate evaluation run outside it; the loop's promotion checks
that the champion is still the one its candidate was gated against (see
``recloop.loop.step.conclude``). A lock not had within
``registry.lock_timeout_seconds`` is :class:`~recloop.errors.RegistryBusyError` (exit 2):
the registry is busy, nothing changed, try again.

The lock is reentrant within a thread, so a locked sequence (record a decision, then
promote) can call functions that take the lock themselves.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from recloop.errors import RecloopError, RegistryBusyError
from recloop.settings import Settings

log = logging.getLogger(__name__)

# pg_advisory_lock takes a bigint; derived from a name so it cannot collide by accident
# with another application's small integer keys in a shared database.
ADVISORY_KEY = int.from_bytes(
    hashlib.blake2b(b"recloop.registry", digest_size=8).digest(), "big", signed=True
)
SQLITE_LOCK_SUFFIX = "-registry-lock"
APPLICATION_NAME = "recloop registry lock"  # of the holder's and waiters' connections
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired

_held = threading.local()  # store URL -> depth of this thread's nested holds


@contextmanager
def registry_lock(settings: Settings, timeout: float | None = None) -> Iterator[None]:
    """Hold the registry lock of ``settings``' store for the body of the ``with``.

    Args:
        settings: selects the store (``store_url``) and the default timeout
            (``registry.lock_timeout_seconds``).
        timeout: seconds to wait for the lock instead of the setting.

    Raises:
        RegistryBusyError: another process held the lock for the whole timeout (exit 2).
        RecloopError: the store cannot be reached to take the lock (exit 2).
    """
    url = settings.store_url.get_secret_value()  # to connect; a key of this thread's holds
    depths: dict[str, int] = _held.__dict__.setdefault("depths", {})
    if depths.get(url):
        depths[url] += 1
        try:
            yield
        finally:
            depths[url] -= 1
        return
    wait = settings.registry.lock_timeout_seconds if timeout is None else timeout
    hold = _sqlite_lock if url.startswith("sqlite") else _postgres_lock
    with hold(settings, wait):
        depths[url] = 1
        try:
            yield
        finally:
            depths[url] = 0


def _busy(wait: float) -> RegistryBusyError:
    return RegistryBusyError(
        f"the model registry is busy: another promotion, rollback or loop step held its "
        f"lock for {wait:g} s; nothing changed, try again "
        "(RECLOOP_REGISTRY__LOCK_TIMEOUT_SECONDS sets the wait)"
    )


@contextmanager
def _postgres_lock(settings: Settings, wait: float) -> Iterator[None]:
    """Session advisory lock on a connection of its own (closed, hence released, after)."""
    engine = sa.create_engine(
        settings.store_url.get_secret_value(),
        poolclass=sa.pool.NullPool,
        connect_args={"application_name": APPLICATION_NAME},  # findable in pg_stat_activity
    )
    try:
        try:
            connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.OperationalError as exc:
            raise _unreachable(exc) from None
        with connection:
            timeout_ms = min(max(1, int(wait * 1000)), 2**31 - 1)  # an int4 of ms
            connection.exec_driver_sql(f"SET lock_timeout = {timeout_ms}")
            try:
                connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_KEY})
            except sa.exc.OperationalError as exc:
                if _sqlstate(exc) == _LOCK_NOT_AVAILABLE:
                    raise _busy(wait) from None
                raise _unreachable(exc) from None
            try:
                yield
            finally:
                _release_postgres(connection)
    finally:
        engine.dispose()


def _release_postgres(connection: sa.Connection) -> None:
    """Unlock explicitly; closing the connection right after would release it anyway."""
    try:
        released = connection.execute(
            sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
        ).scalar()
    except sa.exc.DBAPIError:
        released = False
    if not released:
        log.warning("the registry lock was lost while held (the store connection dropped)")


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


@contextmanager
def _sqlite_lock(settings: Settings, wait: float) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` on the lock file next to the store; rolled back to release."""
    path = sqlite_lock_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=wait, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise RecloopError(f"cannot open the registry lock file {path}: {exc}", 2) from None
    try:
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise _busy(wait) from None
            raise RecloopError(f"registry lock file {path}: {exc}", 2) from None
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
    finally:
        connection.close()


def sqlite_lock_path(settings: Settings) -> Path:
    """The SQLite lock file: next to the store's database file (or in the workspace)."""
    database = sa.engine.make_url(settings.store_url.get_secret_value()).database
    if not database or database == ":memory:":
        return settings.home_dir / f"recloop.db{SQLITE_LOCK_SUFFIX}"
    return Path(database + SQLITE_LOCK_SUFFIX).expanduser()


def _unreachable(exc: sa.exc.DBAPIError) -> RecloopError:
    first = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc) else ""
    return RecloopError(f"cannot take the registry lock: the store is unreachable: {first}", 2)
