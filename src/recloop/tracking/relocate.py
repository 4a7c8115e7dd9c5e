"""A workspace that was copied or moved keeps every model servable from its new place.

MLflow's SQLite store records absolute artifact locations (``file:///old/home/mlartifacts/
...``) on experiments, runs, model versions and logged models, and resolves ``models:/``
URIs through them: a copied ``RECLOOP_HOME`` would serve models from, and log new runs
into, the old place (or fail once it is gone). MLflow has no relative locations, so the
store is rewritten instead: when recloop opens the workspace's own store (the default
``sqlite:///<home>/mlflow.db`` with the default artifact root) and finds the experiments'
artifact root under another path ending in ``/mlartifacts``, every location under that
root is moved onto ``<home>/mlartifacts`` in one transaction, before MLflow reads it.

Nothing happens for a configured tracking server (its ``mlflow-artifacts:/`` locations are
proxied, so relocatable already: restart the server with ``--artifacts-destination`` at the
new place) or an explicitly configured artifact root (the operator chose it).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from recloop.settings import Settings

log = logging.getLogger(__name__)

ARTIFACT_DIR = "mlartifacts"
# (table, column) pairs that hold artifact locations in MLflow's SQL store (MLflow 3).
LOCATION_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
    ("logged_models", "artifact_location"),
)

_checked: set[str] = set()  # stores already checked by this process


@dataclass(frozen=True)
class Relocation:
    """One rewrite of the store: from which artifact root, to which, how many values."""

    old_root: str
    new_root: str
    rewritten: int


def relocate_workspace_store(settings: Settings, *, force_check: bool = False) -> list[Relocation]:
    """Rewrite the workspace store's artifact locations onto this workspace, if it moved.

    Checked once per process and store (one small query); ``force_check`` checks again.

    Returns:
        list[Relocation]: the rewrites done (empty when the store is where it was made).
    """
    if settings.registry.tracking_uri or settings.registry.artifact_location:
        return []  # a configured store or artifact root: not the workspace's own
    database = settings.home_dir / "mlflow.db"
    key = str(database)
    if (key in _checked and not force_check) or not database.exists():
        return []
    new_root = settings.mlflow_artifact_location.rstrip("/")
    done = rewrite_store(database, new_root)
    _checked.add(key)
    for move in done:
        log.info(
            "workspace moved: %d artifact locations rewritten from %s to %s",
            move.rewritten,
            move.old_root,
            move.new_root,
        )
    return done


def rewrite_store(database: Path, new_root: str) -> list[Relocation]:
    """Move every location under a foreign ``.../mlartifacts`` root onto ``new_root``.

    Args:
        database: an MLflow SQLite store.
        new_root: the artifact root URI the store should use (``file:///.../mlartifacts``).

    Returns:
        list[Relocation]: one per old root found (none when nothing was foreign).
    """
    connection = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "experiments" not in tables:
            return []
        connection.execute("BEGIN IMMEDIATE")
        try:
            roots = _foreign_roots(connection, new_root)
            moves = [
                Relocation(old, new_root, _rewrite(connection, tables, old, new_root))
                for old in roots
            ]
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return moves
    finally:
        connection.close()


def _foreign_roots(connection: sqlite3.Connection, new_root: str) -> list[str]:
    """Artifact roots of experiments that are another workspace's ``mlartifacts``."""
    roots = set()
    for (location,) in connection.execute("SELECT artifact_location FROM experiments"):
        if not location or not location.startswith("file:"):
            continue
        root = location.rstrip("/")
        if root.endswith(f"/{ARTIFACT_DIR}") and root != new_root:
            roots.add(root)
    return sorted(roots)


def _rewrite(connection: sqlite3.Connection, tables: set[str], old: str, new: str) -> int:
    """Replace the ``old`` prefix (whole path segments only) in every location column."""
    count = 0
    for table, column in LOCATION_COLUMNS:
        if table not in tables:
            continue
        cursor = connection.execute(
            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
            f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
            (new, len(old) + 1, old, len(old) + 1, old + "/"),
        )
        count += cursor.rowcount
    return count
