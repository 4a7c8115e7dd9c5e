"""Batch files into the store in a safe order: catalogs first, so events find their items.

The one ordering both the continual step and the ingest flow use. A file's name only
orders it (``readers.infer_kind``); its columns decide which table it goes to.
"""

from __future__ import annotations

from recloop.data.ingest import IngestReport, ingest_path
from recloop.data.readers import infer_kind
from recloop.settings import Settings

KIND_ORDER = {"items": 0, "users": 1, "events": 2}


def ingest_order(paths: list[str]) -> list[str]:
    """Batch files with items before users before events, as their names suggest.

    The name only orders the files; each file's columns decide its kind when it is
    ingested. The sort is stable: files of one kind keep the order they were given in.
    """
    return sorted(paths, key=lambda path: KIND_ORDER[infer_kind(path)])


def ingest_batches(settings: Settings, paths: list[str]) -> list[IngestReport]:
    """Ingest batch files in :func:`ingest_order`; one report per file."""
    return [ingest_path(settings, path) for path in ingest_order(paths)]
