"""Batch files into the store in a safe order: catalogs first, so events find their items.

The one ordering both the continual step and the ingest flow use. A file's name only
orders it (``readers.infer_kind``); its columns decide which table it goes to. A file in
the inbox leaves it once ingested (``inbox.py``): to ``processed/`` or ``rejected/``; an
inbox file that is no batch at all is rejected there instead of failing the run, so one
bad upload cannot block every later one.
"""

from __future__ import annotations

from pathlib import Path

from recloop.data.ingest import IngestReport, ingest_path
from recloop.data.readers import infer_kind
from recloop.errors import StoreUnavailableError, UnusableInputError
from recloop.loop.inbox import file_batch, in_inbox, reject_unreadable
from recloop.settings import Settings

KIND_ORDER = {"items": 0, "users": 1, "events": 2}


def ingest_order(paths: list[str]) -> list[str]:
    """Batch files with items before users before events, as their names suggest.

    The name only orders the files; each file's columns decide its kind when it is
    ingested. The sort is stable: files of one kind keep the order they were given in.
    """
    return sorted(paths, key=lambda path: KIND_ORDER[infer_kind(path)])


def ingest_batches(settings: Settings, paths: list[str]) -> list[IngestReport]:
    """Ingest batch files in :func:`ingest_order`; one report per file ingested.

    Inbox files are filed away after their ingest; one that another process filed (or that
    is no batch at all) gives no report.
    """
    reports = [ingest_one(settings, path) for path in ingest_order(paths)]
    return [report for report in reports if report is not None]


def ingest_one(settings: Settings, path: str) -> IngestReport | None:
    """Ingest one file; an inbox file then moves to ``processed/`` or ``rejected/``.

    Raises:
        UnusableInputError: a file outside the inbox cannot be ingested (as before).
        StoreUnavailableError, BatchInProgressError: the file stays where it is.
    """
    if not in_inbox(settings, path):
        return ingest_path(settings, path)
    try:
        report = ingest_path(settings, path)
    except StoreUnavailableError:
        raise
    except UnusableInputError as exc:
        if Path(path).exists():
            reject_unreadable(settings, path, str(exc))
        return None  # gone: another process ingested and filed it
    file_batch(settings, path, report.batch_id, report.status)
    return report
