"""Ingest one batch: read, validate with Great Expectations, store, quarantine, log.

Accounting is exact for every batch: ``received = accepted + quarantined + duplicates``.

- A row with an error reason is quarantined with its raw content and reason codes.
- A row whose natural key (events: user, item, timestamp, event type; items/users: id)
  repeats an earlier row of the batch or a stored row with the *same* content is a
  duplicate: counted, not stored again. The same key with *different* content is
  quarantined (``conflicting_duplicate`` / ``conflicts_with_stored``); catalog rows (items,
  users) with new content for a known id are updates and count as accepted.
- When the share of quarantined rows exceeds ``settings.ingest.max_bad_fraction`` the batch
  is rejected whole: every non-duplicate row goes to quarantine (good ones as
  ``batch_rejected``), nothing is stored.
- ``batch_id`` is the SHA-256 of the content (and kind): re-ingesting a batch that was
  accepted (or partially accepted) is a no-op reported as ``duplicate``; a rejected batch
  may be ingested again (for example after raising the threshold) and is re-validated, and
  so is one whose ingest failed or was killed (``batch_log``: it stored nothing).
- The kind is the one the batch's columns fit (``kinds``); a kind asked for must agree.
- Catalogue batches (items, users) change only the columns they carry: an items file of
  ids and titles leaves every stored year and genre as it was. New ids get NULL in the
  columns the batch lacks.
- The batch is in the ingest log from the moment it is read (``running``), and its rows,
  quarantine and final log status commit in one transaction (``batch_log``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from recloop.data import batch_log, schema, store
from recloop.data.decide import STORED_COLUMNS, TABLES, Outcome, count_codes, decide
from recloop.data.quarantine import quarantine_frame
from recloop.data.readers import RawBatch, batch_from_frame, read_batch
from recloop.data.validation_frame import SPECS, text_length_parameters, validation_frame
from recloop.errors import UnusableInputError
from recloop.settings import Settings
from recloop.validation.suite import Verdicts, validate

STATUSES = ("accepted", "partial", "rejected", "duplicate")


@dataclass
class IngestReport:
    """What happened to one batch (the CLI prints it; the ingest log stores it)."""

    batch_id: str
    kind: str
    source: str
    status: str
    received: int
    accepted: int
    quarantined: int
    duplicates: int
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    message: str = ""
    data_docs: str | None = None
    attempts: int = 1  # tries of this batch, counting earlier failed or killed ones
    # Batches of dead processes that this ingest found in the log and marked interrupted.
    interrupted: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_path(settings: Settings, path: str | Path, kind: str | None = None) -> IngestReport:
    """Ingest one batch file (see ``readers.read_batch`` for the formats).

    Args:
        settings: selects the store and the validation rules.
        path: the batch file.
        kind: events, items or users; None: the kind the file's columns fit.

    Returns:
        IngestReport; its status is ``rejected`` when too many rows were bad.

    Raises:
        UnusableInputError: the file is missing, empty or unreadable, or its columns do not
            fit ``kind`` (or any kind).
        BatchInProgressError: another live process is ingesting the same batch.
    """
    started = time.time()
    path = Path(path)
    raw = read_batch(path, kind)
    batch_id = _hash_bytes(raw.kind, path)
    return _ingest(settings, raw, str(path.resolve()), batch_id, started)


def ingest_frame(
    settings: Settings, frame: pd.DataFrame, kind: str | None = None, source: str = "dataframe"
) -> IngestReport:
    """Ingest a DataFrame with canonical (or aliased) columns, like a file of that content."""

    started = time.time()
    if frame.empty:
        raise UnusableInputError(f"{source}: the frame has no rows")
    raw = batch_from_frame(frame, kind, source)
    canonical, kind = raw.frame, raw.kind
    digest = pd.util.hash_pandas_object(canonical.astype(str), index=False).to_numpy()
    names = ",".join(map(str, canonical.columns)).encode()
    batch_id = hashlib.sha256(kind.encode() + b"\0" + names + digest.tobytes()).hexdigest()
    return _ingest(settings, raw, source, batch_id, started)


def _hash_bytes(kind: str, path: Path) -> str:
    digest = hashlib.sha256(kind.encode() + b"\0")
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Batch:
    """One batch on its way through ``_ingest``."""

    raw: RawBatch
    source: str
    batch_id: str
    started: float
    seconds_read: float

    @property
    def kind(self) -> str:
        return self.raw.kind


def _ingest(
    settings: Settings, raw: RawBatch, source: str, batch_id: str, started: float
) -> IngestReport:
    """Log the batch as running, then validate and store it; log how it ended."""
    engine = store.open_store(settings)
    batch = _Batch(raw, source, batch_id, started, time.time() - started)
    row = {"kind": raw.kind, "source": source, "received": len(raw.frame), "started_at": started}
    claim, interrupted = batch_log.start_batch(engine, settings, batch_id, row)
    if claim.done_before:
        report = _duplicate_batch_report(raw, raw.kind, source, batch_id, claim.prior)
    else:
        with batch_log.running(engine, batch_id, settings.ingest.heartbeat_seconds):
            report = _validate_and_store(engine, settings, batch)
        report.attempts = claim.attempts
        if claim.prior is not None:
            earlier = f"attempt {claim.attempts}; the previous one ended {claim.prior}"
            report.message = "; ".join(m for m in (report.message, earlier) if m)
    report.interrupted = interrupted
    return report


def _validate_and_store(engine: sa.Engine, settings: Settings, batch: _Batch) -> IngestReport:
    kind = batch.kind
    frame = validation_frame(batch.raw, kind, settings)
    with engine.connect() as connection:
        parameters, conditions = _suite_inputs(connection, kind, settings, batch.raw, frame)
    parameters = {**text_length_parameters(kind), **parameters}
    verdicts = validate(frame, kind, parameters, conditions, settings.ingest.chunk_rows)
    batch_log.set_stage(engine, batch.batch_id, "storing")
    for attempt in (1, 2):
        try:
            report = _decide_and_store(engine, settings, batch, frame, verdicts)
            break
        except sa.exc.IntegrityError:
            # A concurrent ingest stored overlapping rows after our duplicate check:
            # decide again against the store as it is now.
            if attempt == 2:
                raise
    if settings.ingest.data_docs:
        report.data_docs = _publish_docs(settings, report, verdicts)
    return report


def _duplicate_batch_report(
    raw: RawBatch, kind: str, source: str, batch_id: str, prior: str
) -> IngestReport:
    received = len(raw.frame)
    return IngestReport(
        batch_id,
        kind,
        source,
        "duplicate",
        received,
        0,
        0,
        received,
        ignored_columns=raw.ignored_columns,
        message=f"batch already ingested (status {prior}); nothing to do",
    )


def _decide_and_store(
    engine: sa.Engine,
    settings: Settings,
    batch: _Batch,
    frame: pd.DataFrame,
    verdicts: Verdicts,
) -> IngestReport:
    """Duplicate checks, rows, quarantine and the log row's outcome in one transaction."""
    raw, kind = batch.raw, batch.kind
    store_started = time.time()
    with engine.begin() as connection:
        carried = carried_columns(raw)
        outcome = decide(connection, frame, kind, verdicts, settings, carried, _kept(raw))
        report = IngestReport(
            batch.batch_id,
            kind,
            batch.source,
            outcome.status,
            len(raw.frame),
            len(outcome.accepted),
            len(outcome.quarantine_rows),
            len(outcome.duplicate_rows),
            reasons=outcome.reason_counts(),
            warnings=count_codes(verdicts.warnings),
            ignored_columns=raw.ignored_columns,
            message=outcome.message,
        )
        _write(connection, raw, outcome, report)
        report.seconds = {
            "read": round(batch.seconds_read, 3),
            "validate": round(verdicts.seconds, 3),
            "store": round(time.time() - store_started, 3),
        }
        batch_log.finish_batch(connection, report)
    return report


def carried_columns(raw: RawBatch) -> list[str]:
    """The stored columns a batch carries: the only ones a catalogue batch may change.

    Events always store every column (an absent event type or value gets its default).
    """
    if raw.kind == "events":
        return list(STORED_COLUMNS["events"])
    return [c for c in STORED_COLUMNS[raw.kind] if c in raw.frame.columns]


def _kept(raw: RawBatch) -> list[str]:
    """Carried catalogue columns whose nulls leave the stored value as it is.

    ``first_seen`` in a file never erases what events taught us; a year the reader derived
    from "Title (1995)" says nothing where the title had none.
    """
    if raw.kind == "events":
        return []
    return [c for c in ("first_seen", *raw.derived_columns) if c in carried_columns(raw)]


def _suite_inputs(
    connection: sa.Connection,
    kind: str,
    settings: Settings,
    raw: RawBatch,
    frame: pd.DataFrame,
) -> tuple[dict[str, Any], set[str]]:
    """Values of the suite's parameters and which conditional expectations apply.

    With a non-empty catalog (and ``unknown_items="quarantine"``) the frame gets
    ``unknown_item_id``, the item id when the catalog lacks it (null otherwise), which the
    suite expects to be null.
    """
    conditions = raw.conditions
    if kind != "events":
        return {}, conditions
    rules = settings.ingest
    parameters: dict[str, Any] = {
        "min_timestamp": rules.min_timestamp,
        "max_timestamp": int(time.time()) + rules.future_tolerance_seconds,
        "milliseconds_threshold": rules.milliseconds_threshold,
        "event_types": sorted(rules.value_ranges),
    }
    known = store.known_item_ids(connection)
    if len(known) and rules.unknown_items == "quarantine":
        conditions.add("item_catalog")
        frame["unknown_item_id"] = frame["item_id"].where(~frame["item_id"].isin(known))
    return parameters, conditions


def _write(
    connection: sa.Connection, raw: RawBatch, outcome: Outcome, report: IngestReport
) -> None:
    """Store accepted rows and quarantine the rest, in the caller's transaction."""
    kind = raw.kind
    quarantine = schema.quarantine
    connection.execute(sa.delete(quarantine).where(quarantine.c.batch_id == report.batch_id))
    _write_quarantine(connection, raw, kind, outcome.quarantine_rows, report.batch_id)
    rows = outcome.accepted
    rows["batch_id"] = report.batch_id
    if kind == "events":
        if not rows["timestamp"].is_monotonic_increasing:
            # Time order (stable: ties keep source order) so event_id follows (timestamp,
            # source order) and the time-led key index grows at its end.
            rows = rows.sort_values("timestamp", kind="stable")
        if outcome.new_items is not None:
            # Insert only: an item registered meanwhile keeps its title.
            new_items = outcome.new_items.assign(batch_id=report.batch_id)
            store.upsert(connection, schema.items, new_items, "item_id", update=())
        store.bulk_insert(connection, schema.events, rows, list(rows.columns))
        _update_first_seen(connection, outcome.accepted)
        return
    key = SPECS[kind].key[0]
    columns = [key, *[c for c in carried_columns(raw) if c != key], "batch_id"]
    store.upsert(connection, TABLES[kind], rows[columns], key, keep_when_null=_kept(raw))


def _write_quarantine(
    connection: sa.Connection,
    raw: RawBatch,
    kind: str,
    rows: dict[int, set[str]],
    batch_id: str,
) -> None:
    if not rows:
        return
    frame = quarantine_frame(raw, kind, rows, batch_id)
    store.bulk_insert(connection, schema.quarantine, frame, list(frame.columns))


def _update_first_seen(connection: sa.Connection, events: pd.DataFrame) -> None:
    """An item's ``first_seen`` is the earliest accepted event time seen for it."""
    first = events.groupby("item_id", as_index=False)["timestamp"].min()
    first = first.rename(columns={"timestamp": "first_seen"})
    store.lower_to(connection, schema.items, first, "item_id", "first_seen")


def _publish_docs(settings: Settings, report: IngestReport, verdicts: Verdicts) -> str | None:
    """Data Docs for the batch's GX results, with the report's counts shown next to them."""
    from recloop.validation.docs import BatchSummary, publish_data_docs

    # The validation layer sits below this one, so it has its own record of the same counts.
    batch = BatchSummary(**{f.name: getattr(report, f.name) for f in fields(BatchSummary)})
    return publish_data_docs(settings, batch, verdicts.results)
