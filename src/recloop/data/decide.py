"""Decide the fate of every row of a validated batch: accepted, quarantined or duplicate.

GX verdicts say which rows are bad; this module adds the duplicate checks (within the batch
and against the store) and the batch-level rejection rule, and prepares the accepted rows
in storage dtypes. It reads the store but never writes it (``ingest`` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from recloop.data import schema, store
from recloop.settings import Settings
from recloop.validation.frame import SPECS
from recloop.validation.suite import Verdicts

STORED_COLUMNS = {
    "events": ["user_id", "item_id", "event_type", "value", "timestamp", "scenario", "session_id"],
    "items": ["item_id", "title", "year", "genres", "first_seen"],
    "users": ["user_id", "age", "gender", "occupation", "zip_code"],
}
TABLES = {"events": schema.events, "items": schema.items, "users": schema.users}


def count_codes(rows: dict[int, set[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for codes in rows.values():
        for code in codes:
            counts[code] = counts.get(code, 0) + 1
    return dict(sorted(counts.items()))


@dataclass
class Outcome:
    """The decision for every row of a batch (row positions of the validation frame)."""

    status: str
    accepted: pd.DataFrame  # canonical rows to store
    quarantine_rows: dict[int, set[str]]
    duplicate_rows: np.ndarray
    message: str = ""
    new_items: pd.DataFrame | None = None  # auto-registered items (unknown_items=register)

    def reason_counts(self) -> dict[str, int]:
        return count_codes(self.quarantine_rows)


def decide(
    connection: sa.Connection,
    frame: pd.DataFrame,
    kind: str,
    verdicts: Verdicts,
    settings: Settings,
    carried: Sequence[str] | None = None,
    keep_when_null: Sequence[str] = (),
) -> Outcome:
    """Turn GX verdicts plus duplicate checks into accepted/quarantined/duplicate rows.

    A catalogue row is a duplicate when writing it would change nothing: it matches the
    stored row in the columns the batch carries (``carried``, default all; the others are
    not written), where a null in a ``keep_when_null`` column matches anything.
    """
    errors = dict(verdicts.errors)
    for column, rows in verdicts.set_null.items():
        frame.loc[sorted(rows), column] = None
    # One copy of the stored columns of the good rows; further selections only if needed.
    good = frame.loc[~frame.index.isin(list(errors)), STORED_COLUMNS[kind]]
    compared = (carried or STORED_COLUMNS[kind], keep_when_null)
    duplicates, conflicts = _duplicates(connection, good, kind, compared)
    errors.update(conflicts)
    dropped = [*duplicates, *conflicts]
    accepted = good[~good.index.isin(dropped)] if dropped else good
    received = len(frame)
    bad_fraction = len(errors) / received
    if bad_fraction > settings.ingest.max_bad_fraction:
        for row in accepted.index:
            errors[int(row)] = {"batch_rejected"}
        message = (
            f"rejected: {bad_fraction:.1%} of rows are bad (limit "
            f"{settings.ingest.max_bad_fraction:.0%}); every row kept in quarantine"
        )
        return Outcome("rejected", accepted.iloc[0:0], errors, duplicates, message)
    status = "partial" if errors else "accepted"
    if not errors and len(accepted) == 0 and len(duplicates):
        status = "duplicate"
    outcome = Outcome(status, _canonical_rows(accepted, kind), errors, duplicates)
    if kind == "events" and settings.ingest.unknown_items == "register":
        outcome.new_items = _unknown_items(connection, outcome.accepted)
    return outcome


def _canonical_rows(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Accepted rows with stored columns and storage dtypes."""
    spec = SPECS[kind]
    rows = frame[STORED_COLUMNS[kind]]
    for column in spec.integer:
        rows[column] = (
            rows[column].astype("Int64")
            if rows[column].isna().any()
            else (rows[column].astype("int64"))
        )
    if kind == "items":
        rows["genres"] = rows["genres"].fillna("")
    return rows


def _duplicates(
    connection: sa.Connection,
    good: pd.DataFrame,
    kind: str,
    compared: tuple[Sequence[str], Sequence[str]],
) -> tuple[np.ndarray, dict[int, set[str]]]:
    """Rows repeating an earlier row of the batch or a stored row (by natural key)."""
    key = list(SPECS[kind].key)
    content = STORED_COLUMNS[kind]
    if good.empty:
        return np.array([], dtype="int64"), {}
    repeated = good.duplicated(subset=key, keep="first")
    duplicates, conflicts = [], {}
    if repeated.any():
        same = good.duplicated(subset=content, keep="first") & repeated
        duplicates.extend(good.index[same])
        for row in good.index[repeated & ~same]:
            conflicts[int(row)] = {"conflicting_duplicate"}
    firsts = good[~repeated]
    stored = _stored_rows(connection, firsts, kind)
    if len(stored):
        matched = firsts.reset_index().merge(stored, on=key, suffixes=("", "_stored"))
        carried, keep_when_null = compared
        same = np.ones(len(matched), dtype=bool)
        for column in [c for c in carried if c not in key and c in stored.columns]:
            left, right = matched[column], matched[f"{column}_stored"]
            kept = left.isna().to_numpy() & (right.isna().to_numpy() | (column in keep_when_null))
            same &= _equal_values(left, right) | kept
        duplicates.extend(matched.loc[same, "index"])
        if kind == "events":  # catalogs take new content as an update
            for row in matched.loc[~same, "index"]:
                conflicts[int(row)] = {"conflicts_with_stored"}
    return np.array(sorted(int(r) for r in duplicates), dtype="int64"), conflicts


def _equal_values(left: pd.Series, right: pd.Series) -> np.ndarray:
    """Row-wise equality of present values (a comparison with a missing one is False)."""
    return (left == right).to_numpy(dtype=bool, na_value=False)


def _stored_rows(connection: sa.Connection, rows: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Stored rows that may share a key with ``rows`` (events: same time span).

    Integer columns come back as exact ``Int64``, like the batch's (never float64:
    distinct ids above 2**53 must not match).
    """
    if kind == "events":
        start, end = rows["timestamp"].min(), rows["timestamp"].max()
        stored = store.stored_event_keys(connection, int(start), int(end))
        return stored.astype({"user_id": "Int64", "item_id": "Int64", "timestamp": "Int64"})
    id_column = SPECS[kind].key[0]
    ids = pd.Series(rows[id_column].astype("int64").unique(), name=id_column)
    stored = store.rows_with_keys(connection, TABLES[kind], ids, STORED_COLUMNS[kind])
    return stored.astype({c: "Int64" for c in SPECS[kind].integer})


def _unknown_items(connection: sa.Connection, events: pd.DataFrame) -> pd.DataFrame | None:
    """Items to auto-register: ids of accepted events missing from a non-empty catalog."""
    known = store.known_item_ids(connection)
    if not len(known) or events.empty:
        return None
    unknown = events[~events["item_id"].isin(known)]
    if unknown.empty:
        return None
    first = unknown.groupby("item_id")["timestamp"].min()
    return pd.DataFrame(
        {
            "item_id": first.index.astype("int64"),
            "title": None,
            "year": None,
            "genres": "",
            "first_seen": first.to_numpy(),
        }
    )
