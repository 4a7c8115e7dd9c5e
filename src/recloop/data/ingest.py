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
  may be ingested again (for example after raising the threshold) and is re-validated.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from recloop.data import schema, store
from recloop.data.decide import TABLES, Outcome, count_codes, decide
from recloop.data.quarantine import quarantine_frame
from recloop.data.readers import RawBatch, batch_from_frame, read_batch
from recloop.errors import UnusableInputError
from recloop.settings import Settings
from recloop.validation.frame import SPECS, validation_frame
from recloop.validation.suite import Verdicts, validate

STATUSES = ("accepted", "partial", "rejected", "duplicate")
FINAL_STATUSES = {"accepted", "partial", "duplicate"}  # a batch in one of these is not redone


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_path(settings: Settings, path: str | Path, kind: str = "events") -> IngestReport:
    """Ingest one batch file (see ``readers.read_batch`` for the formats).

    Args:
        settings: selects the store and the validation rules.
        path: the batch file.
        kind: events, items or users.

    Returns:
        IngestReport; its status is ``rejected`` when too many rows were bad.

    Raises:
        UnusableInputError: the file is missing, empty or unreadable.
    """
    started = time.time()
    path = Path(path)
    raw = read_batch(path, kind)
    batch_id = _hash_bytes(kind, path)
    return _ingest(settings, raw, kind, str(path.resolve()), batch_id, started)


def ingest_frame(
    settings: Settings, frame: pd.DataFrame, kind: str = "events", source: str = "dataframe"
) -> IngestReport:
    """Ingest a DataFrame with canonical (or aliased) columns, like a file of that content."""

    started = time.time()
    if frame.empty:
        raise UnusableInputError(f"{source}: the frame has no rows")
    raw = batch_from_frame(frame, kind, source)
    canonical = raw.frame
    digest = pd.util.hash_pandas_object(canonical.astype(str), index=False).to_numpy()
    names = ",".join(map(str, canonical.columns)).encode()
    batch_id = hashlib.sha256(kind.encode() + b"\0" + names + digest.tobytes()).hexdigest()
    return _ingest(settings, raw, kind, source, batch_id, started)


def _hash_bytes(kind: str, path: Path) -> str:
    digest = hashlib.sha256(kind.encode() + b"\0")
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ingest(
    settings: Settings, raw: RawBatch, kind: str, source: str, batch_id: str, started: float
) -> IngestReport:
    engine = store.open_store(settings)
    seconds_read = time.time() - started
    with engine.connect() as connection:
        prior = _prior_status(connection, batch_id)
    if prior in FINAL_STATUSES:
        return _duplicate_batch_report(raw, kind, source, batch_id, prior)
    frame = validation_frame(raw, kind, settings)
    with engine.connect() as connection:
        parameters, conditions = _suite_inputs(connection, kind, settings, raw, frame)
    verdicts = validate(frame, kind, parameters, conditions, settings.ingest.chunk_rows)
    for attempt in (1, 2):
        try:
            report = _decide_and_store(
                engine,
                settings,
                raw,
                frame,
                kind,
                (source, batch_id, prior),
                verdicts,
                (started, seconds_read),
            )
            break
        except sa.exc.IntegrityError:
            # A concurrent ingest stored overlapping rows (or this very batch) after our
            # duplicate check: decide again against the store as it is now.
            if attempt == 2:
                raise
            with engine.connect() as connection:
                prior = _prior_status(connection, batch_id)
            if prior in FINAL_STATUSES:
                return _duplicate_batch_report(raw, kind, source, batch_id, prior)
    if settings.ingest.data_docs:
        report.data_docs = _publish_docs(settings, kind, batch_id, verdicts)
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
    raw: RawBatch,
    frame: pd.DataFrame,
    kind: str,
    batch: tuple[str, str, str | None],
    verdicts: Verdicts,
    timing: tuple[float, float],
) -> IngestReport:
    """Duplicate checks, rows, quarantine and the log row in one transaction.

    Args:
        batch: (source, batch_id, prior status or None).
        timing: (start time, seconds spent reading).
    """
    source, batch_id, prior = batch
    started, seconds_read = timing
    store_started = time.time()
    with engine.begin() as connection:
        outcome = decide(connection, frame, kind, verdicts, settings)
        report = IngestReport(
            batch_id,
            kind,
            source,
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
        _write(connection, raw, kind, outcome, report)
        report.seconds = {
            "read": round(seconds_read, 3),
            "validate": round(verdicts.seconds, 3),
            "store": round(time.time() - store_started, 3),
        }
        _write_log(connection, report, started, prior is not None)
    return report


def _prior_status(connection: sa.Connection, batch_id: str) -> str | None:
    log = schema.ingest_log
    query = sa.select(log.c.status).where(log.c.batch_id == batch_id)
    return connection.execute(query).scalar_one_or_none()


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
    connection: sa.Connection, raw: RawBatch, kind: str, outcome: Outcome, report: IngestReport
) -> None:
    """Store accepted rows and quarantine the rest, in the caller's transaction."""
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
            store.upsert(
                connection,
                schema.items,
                outcome.new_items.assign(batch_id=report.batch_id),
                "item_id",
            )
        store.bulk_insert(connection, schema.events, rows, list(rows.columns))
        _update_first_seen(connection, outcome.accepted)
    else:
        keep = ["first_seen"] if kind == "items" else []
        store.upsert(connection, TABLES[kind], rows, SPECS[kind].key[0], keep_when_null=keep)


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
    if events.empty:
        return
    first = events.groupby("item_id")["timestamp"].min()
    items = schema.items
    statement = (
        sa.update(items)
        .where(items.c.item_id == sa.bindparam("id"))
        .where(sa.or_(items.c.first_seen.is_(None), items.c.first_seen > sa.bindparam("ts")))
        .values(first_seen=sa.bindparam("ts"))
    )
    params = [{"id": int(i), "ts": int(t)} for i, t in first.items()]
    connection.execute(statement, params)


def _write_log(
    connection: sa.Connection, report: IngestReport, started: float, replace: bool
) -> None:
    log = schema.ingest_log
    if replace:
        connection.execute(sa.delete(log).where(log.c.batch_id == report.batch_id))
    connection.execute(
        sa.insert(log).values(
            batch_id=report.batch_id,
            kind=report.kind,
            source=report.source,
            status=report.status,
            received=report.received,
            accepted=report.accepted,
            quarantined=report.quarantined,
            duplicates=report.duplicates,
            reasons=json.dumps(report.reasons),
            warnings=json.dumps(report.warnings),
            started_at=started,
            finished_at=time.time(),
            seconds_read=report.seconds["read"],
            seconds_validate=report.seconds["validate"],
            seconds_store=report.seconds["store"],
            message=report.message,
        )
    )


def _publish_docs(settings: Settings, kind: str, batch_id: str, verdicts: Verdicts) -> str | None:
    from recloop.validation.docs import publish_data_docs

    return publish_data_docs(settings, kind, batch_id, verdicts.results)
