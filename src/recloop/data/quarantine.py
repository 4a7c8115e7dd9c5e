"""Read the quarantine back: which batches have bad rows, the rows themselves, CSV export.

Quarantined rows keep their raw content (a JSON object of the fields as received) and
their reason codes; nothing here deletes them.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa

from recloop.data import schema
from recloop.data.store import open_store
from recloop.errors import NotFoundError, UnusableInputError
from recloop.settings import Settings


def list_quarantine(settings: Settings, batch: str | None = None) -> list[dict[str, Any]]:
    """Batches with quarantined rows, newest first, with their logged reason counts."""
    log = schema.ingest_log
    query = sa.select(log).where(log.c.quarantined > 0).order_by(log.c.started_at.desc())
    if batch:
        query = query.where(log.c.batch_id.startswith(batch))
    with open_store(settings).connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        {
            "batch_id": row["batch_id"],
            "kind": row["kind"],
            "status": row["status"],
            "source": row["source"],
            "received": row["received"],
            "quarantined": row["quarantined"],
            "reasons": json.loads(row["reasons"]),
        }
        for row in rows
    ]


def resolve_batch(connection: sa.Connection, prefix: str) -> str:
    """The one batch id starting with ``prefix`` (ids are long hashes)."""
    log = schema.ingest_log
    query = sa.select(log.c.batch_id).where(log.c.batch_id.startswith(prefix)).limit(2)
    ids = connection.execute(query).scalars().all()
    if len(ids) != 1:
        problem = "no batch" if not ids else "more than one batch"
        raise NotFoundError(f"{problem} with id starting {prefix!r}; see `recloop quarantine list`")
    return ids[0]


def show_quarantine(
    settings: Settings, batch: str, reason: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Quarantined rows of one batch in source order (``reason`` filters by code)."""
    table = schema.quarantine
    with open_store(settings).connect() as connection:
        batch_id = resolve_batch(connection, batch)
        query = (
            sa.select(table.c.row_number, table.c.reasons, table.c.raw)
            .where(table.c.batch_id == batch_id)
            .order_by(table.c.row_number)
        )
        if reason:
            query = query.where(
                sa.or_(table.c.reasons == reason, table.c.reasons.like(f"%{reason}%"))
            )
        rows = connection.execute(query.limit(limit)).mappings().all()
    result = []
    for row in rows:
        codes = row["reasons"].split(",")
        if reason and reason not in codes:
            continue
        result.append(
            {"row_number": row["row_number"], "reasons": codes, "raw": json.loads(row["raw"])}
        )
    return result


def export_quarantine(settings: Settings, out: str | Path, batch: str | None = None) -> int:
    """Write quarantined rows to CSV: batch_id, kind, row_number, reasons, raw JSON.

    A file is written whole or not at all (see :func:`_export_file`); an ``OSError``
    (disk full, no permission) names ``out``, so the operator sees which path failed.

    Raises:
        UnusableInputError: ``out`` is a directory.
    """
    table = schema.quarantine
    out = Path(out)
    if out.is_dir():
        raise UnusableInputError(f"{out} is a directory; give a file name for the CSV export")
    query = sa.select(
        table.c.batch_id, table.c.kind, table.c.row_number, table.c.reasons, table.c.raw
    ).order_by(table.c.batch_id, table.c.row_number)
    count = 0
    with open_store(settings).connect() as connection:
        if batch:
            query = query.where(table.c.batch_id == resolve_batch(connection, batch))
        try:
            with _export_file(out) as handle:
                writer = csv.writer(handle)
                writer.writerow(["batch_id", "kind", "row_number", "reasons", "raw"])
                for row in connection.execution_options(yield_per=10_000).execute(query):
                    writer.writerow(list(row))
                    count += 1
        except OSError as exc:
            if exc.filename is not None:
                raise
            raise OSError(exc.errno, exc.strerror, str(out)) from None  # a write: name it
    return count


@contextmanager
def _export_file(out: Path) -> Iterator[TextIO]:
    """A handle whose content replaces ``out`` only once all of it is written.

    A regular file goes through a temporary sibling and an atomic rename, so a failed
    export (disk full) leaves no half-written CSV that looks complete, and an earlier
    export at ``out`` stays intact. Devices and pipes (``/dev/stdout``) are written directly.
    """
    if out.exists() and not out.is_file():
        with out.open("w", newline="") as handle:
            yield handle
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", newline="") as handle:
            yield handle
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
