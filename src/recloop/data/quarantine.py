"""The quarantine: rows to keep for a batch, and reading them back (list, show, CSV export).

Every quarantined row keeps, beside its reason codes:

- ``raw``: a JSON object of the row's fields as received, under the source's column
  names (canonical names for the columns recloop knows). CSV fields are the text as
  written (``"NaN"`` stays ``"NaN"``, an id stays its digits); Parquet and DataFrame
  values keep their type (integers exact at any size, floats by ``repr``). JSON escapes
  NUL and other control characters, so every backend's text column can hold it.
- ``record_base64``: the row's exact bytes in its source file (a CSV or GroupLens line
  without its line ending), base64-encoded because PostgreSQL text cannot hold a NUL
  byte or bytes that are not UTF-8. Null for Parquet and DataFrame sources, which have
  no row bytes; their ``raw`` is exact.

Nothing here deletes quarantined rows.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import sqlalchemy as sa

from recloop.data import schema
from recloop.data.readers import RawBatch
from recloop.data.store import open_store
from recloop.errors import NotFoundError, UnusableInputError
from recloop.settings import Settings


def quarantine_frame(
    raw: RawBatch, kind: str, rows: dict[int, set[str]], batch_id: str
) -> pd.DataFrame:
    """The quarantine table's rows for the batch rows ``rows`` (position -> reason codes).

    Args:
        raw: the batch as read (values, row numbers, row bytes).
        kind: events, items or users.
        rows: row positions of ``raw.frame`` and their reason codes.
        batch_id: the batch the rows belong to.

    Returns:
        DataFrame with the quarantine table's columns (no ``quarantine_id``).
    """
    positions = sorted(rows)
    raws = _raw_json(raw.frame.iloc[positions])
    records = raw.records
    return pd.DataFrame(
        {
            "batch_id": batch_id,
            "kind": kind,
            "row_number": raw.row_numbers[positions].astype("int64"),
            "reasons": [",".join(sorted(rows[p])) for p in positions],
            "raw": raws,
            "record_base64": [
                base64.b64encode(records[p]).decode("ascii") if records is not None else None
                for p in positions
            ],
            "created_at": time.time(),
        }
    )


def _raw_json(selected: pd.DataFrame) -> list[str]:
    """Each row's fields as a JSON object, under the frame's column names."""
    columns = [str(c) for c in selected.columns]
    values = [_python_values(selected.iloc[:, j]) for j in range(selected.shape[1])]
    if not columns:
        return ["{}"] * len(selected)
    return [
        json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=_json_value)
        for row in zip(*values, strict=True)
    ]


def _python_values(series: pd.Series) -> list[Any]:
    """A column's values as plain Python objects; missing values (None, NaN, NA) as None."""
    values = series.astype(object).tolist()
    return [None if _is_missing(v) else _plain(v) for v in values]


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (ints stay exact integers)."""
    return value.item() if isinstance(value, np.generic) else value


def _json_value(value: Any) -> Any:
    """JSON for values json cannot write itself: exact decimals, times, bytes."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return str(value)


def record_bytes(record_base64: str | None) -> bytes | None:
    """The exact source bytes of a quarantined row (None when the source has none)."""
    return None if record_base64 is None else base64.b64decode(record_base64)


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
            sa.select(table.c.row_number, table.c.reasons, table.c.raw, table.c.record_base64)
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
        record = record_bytes(row["record_base64"])
        result.append(
            {
                "row_number": row["row_number"],
                "reasons": codes,
                "raw": json.loads(row["raw"]),
                # The source line as text (bytes that are not UTF-8 as \xff escapes);
                # record_base64 holds it exactly.
                "record": None if record is None else record.decode("utf-8", "backslashreplace"),
                "record_base64": row["record_base64"],
            }
        )
    return result


def export_quarantine(settings: Settings, out: str | Path, batch: str | None = None) -> int:
    """Write quarantined rows to CSV: batch_id, kind, row_number, reasons, raw JSON and the
    row's exact source bytes in base64 (``record_base64``, empty for Parquet sources).

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
        table.c.batch_id,
        table.c.kind,
        table.c.row_number,
        table.c.reasons,
        table.c.raw,
        table.c.record_base64,
    ).order_by(table.c.batch_id, table.c.row_number)
    count = 0
    with open_store(settings).connect() as connection:
        if batch:
            query = query.where(table.c.batch_id == resolve_batch(connection, batch))
        try:
            with _export_file(out) as handle:
                writer = csv.writer(handle)
                writer.writerow(
                    ["batch_id", "kind", "row_number", "reasons", "raw", "record_base64"]
                )
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
