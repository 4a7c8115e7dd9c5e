"""Property: a catalogue batch changes exactly the cells it carries, and nothing else.

Hypothesis writes items and users batches with a random subset of the kind's columns
(in random order), random ids (known, new, invalid) and random values (some invalid, some
empty), and ingests each with ``recloop ingest`` on top of a real slice of the MovieLens-100k
catalogue. A small model says what the catalogue must hold afterwards; the whole table is
compared, so a column the batch did not carry, or a row it did not name, cannot change.
Each example starts from the same store (the fixture's catalogue, restored), so a failure
replays exactly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recloop.data import schema
from recloop.data.kinds import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from recloop.data.store import dispose_stores, load_items, load_users, open_store
from recloop.settings import Settings
from recloop.validation.frame import text_length_limits

SLICE = 40  # real items 1..40 and users 1..40
NEW_IDS = list(range(5000, 5006))
TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")
# Strings pandas reads as missing; a real catalogue value is never one of them here.
NA_TEXT = {"NA", "N/A", "n/a", "NULL", "null", "NaN", "nan", "-nan", "-NaN", "None", "#N/A"}
MAX_BAD_FRACTION = Settings().ingest.max_bad_fraction


@dataclass
class Cell:
    """A value written to the file, and whether validation must reject its row."""

    text: str | None  # None: an empty field
    bad: bool = False


@dataclass
class Batch:
    kind: str
    columns: list[str]  # the file's header, id first
    rows: list[dict[str, Cell]] = field(default_factory=list)
    flag: str | None = None  # --kind given on the command line

    def csv_bytes(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if row[c].text is None else row[c].text for c in self.columns])
        return out.getvalue().encode()


def rarely(bad: st.SearchStrategy, good: st.SearchStrategy) -> st.SearchStrategy:
    """``bad`` one time in ten: most batches stay under the rejection threshold."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 0 else good)


text = (
    st.text(
        alphabet=st.sampled_from(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789é ,'\"|-:;!?&"
        ),
        min_size=1,
        max_size=24,
    )
    .map(str.strip)
    .filter(lambda s: s != "" and s not in NA_TEXT)
)
optional_text = st.one_of(st.none(), text).map(Cell)
# Columns the schema bounds (gender, zip_code: 16): longer text is quarantined as
# <col>_too_long, on every backend, so a value meant to be stored stays within the limit.
LIMITS = text_length_limits("users")
bounded_text = {
    column: st.one_of(st.none(), text.filter(lambda s, n=n: len(s) <= n)).map(Cell)
    for column, n in LIMITS.items()
}
year = st.one_of(
    st.none().map(Cell),
    st.integers(1900, 2030).map(lambda y: Cell(str(y))),
    st.sampled_from(["unkonwn", "V", "19x9", "95"]).map(Cell),  # set to null, row kept
)
title = st.one_of(
    optional_text,
    st.tuples(text, st.integers(1900, 2030)).map(lambda t: Cell(f"{t[0]} ({t[1]})")),
)
age = rarely(
    st.sampled_from(["0", "121", "abc", "25.5", "-4"]).map(lambda a: Cell(a, bad=True)),
    st.one_of(st.none().map(Cell), st.integers(1, 120).map(lambda a: Cell(str(a)))),
)
first_seen = rarely(
    st.just(Cell("soon", bad=True)),
    st.one_of(
        st.none().map(Cell),
        st.integers(788_918_400, 1_000_000_000).map(lambda t: Cell(str(t))),
    ),
)
VALUES = {
    "title": title,
    "year": year,
    "genres": optional_text,
    "first_seen": first_seen,
    "age": age,
    "gender": bounded_text["gender"],
    "occupation": bounded_text["occupation"],
    "zip_code": bounded_text["zip_code"],
}
ids = rarely(
    st.sampled_from(["-3", "x1", None]).map(lambda i: Cell(i, bad=True)),
    st.sampled_from([*range(1, SLICE + 1), *NEW_IDS]).map(lambda i: Cell(str(i))),
)


@st.composite
def batches(draw) -> Batch:
    kind = draw(st.sampled_from(["items", "users"]))
    optional = draw(st.lists(st.sampled_from(OPTIONAL_COLUMNS[kind]), unique=True))
    extra = draw(st.sampled_from([[], ["notes"]]))
    key = REQUIRED_COLUMNS[kind][0]
    columns = draw(st.permutations([key, *optional, *extra]))
    keys = draw(st.lists(ids, min_size=1, max_size=15, unique_by=lambda c: (c.text, c.bad)))
    rows = []
    for cell in keys:
        row = {key: cell, "notes": Cell("free text, ignored")}
        for column in optional:
            row[column] = draw(VALUES[column])
        rows.append(row)
    other = "users" if kind == "items" else "items"
    flag = draw(st.sampled_from([None, kind, other]))
    return Batch(kind, list(columns), rows, flag)


def _table(settings: Settings, kind: str) -> pd.DataFrame:
    frame = load_items(settings) if kind == "items" else load_users(settings)
    return frame.astype(object).where(frame.notna(), None)


def _expected(batch: Batch, before: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """The table after a batch that is not rejected, and its (duplicates, bad rows)."""
    key = REQUIRED_COLUMNS[batch.kind][0]
    carried = [c for c in OPTIONAL_COLUMNS[batch.kind] if c in batch.columns]
    derived = batch.kind == "items" and "title" in carried and "year" not in carried
    table = before.set_index(key)
    duplicates = bad = 0
    for row in batch.rows:
        if any(cell.bad for cell in row.values()):
            bad += 1
            continue
        ident = int(row[key].text)
        new = {c: None for c in table.columns} if ident not in table.index else None
        old = dict(table.loc[ident]) if new is None else new
        values = dict(old)
        for column in carried:
            values[column] = row[column].text
        if batch.kind == "items":
            if "year" in carried and not re.fullmatch(r"\d{4}", values["year"] or ""):
                values["year"] = None  # the data rule: a year is 4 digits or null
            if derived:
                split = TITLE_YEAR.match(values["title"] or "")
                values["year"] = old["year"]  # derived: only a year found says something
                if split:
                    values["title"], values["year"] = split["title"], split["year"]
            if values["first_seen"] is None:
                values["first_seen"] = old["first_seen"]
            values["first_seen"] = (
                None if values["first_seen"] is None else int(values["first_seen"])
            )
            values["genres"] = values["genres"] or ""
        if batch.kind == "users" and values["age"] is not None:
            values["age"] = int(values["age"])
        if new is None and values == old:
            duplicates += 1
        table.loc[ident] = pd.Series(values)
    table = table.sort_index().reset_index()
    return table.astype(object).where(table.notna(), None), duplicates, bad


@pytest.fixture
def catalogue(store_url, recloop, movielens_dir, tmp_path, monkeypatch):
    """Settings of a store (each backend) holding real items 1..40, users 1..40, events."""
    monkeypatch.setenv("RECLOOP_DATABASE_URL", store_url)
    events = pd.read_csv(movielens_dir / "interactions.csv", nrows=3000)
    events = events[events.item_id <= SLICE]
    for name, frame in (
        ("items.csv", pd.read_csv(movielens_dir / "items.csv", dtype=str).iloc[:SLICE]),
        ("users.csv", pd.read_csv(movielens_dir / "users.csv", dtype=str).iloc[:SLICE]),
        ("events.csv", events),
    ):
        frame.to_csv(tmp_path / name, index=False)
        result = recloop("ingest", tmp_path / name, "--json")
        assert (result.exit_code, result.report["status"]) == (0, "accepted"), result.stderr
    settings = Settings()
    assert load_items(settings).first_seen.notna().sum() > 10
    yield settings, _snapshot(settings)
    dispose_stores()


TABLES = (schema.items, schema.users, schema.ingest_log, schema.quarantine)


def _snapshot(settings: Settings) -> dict[str, list[dict]]:
    with open_store(settings).connect() as connection:
        return {
            t.name: [dict(r) for r in connection.execute(sa.select(t)).mappings()] for t in TABLES
        }


def _restore(settings: Settings, snapshot: dict[str, list[dict]]) -> None:
    """Put the catalogue and the ingest bookkeeping back as the fixture left them."""
    with open_store(settings).begin() as connection:
        for table in TABLES:
            connection.execute(sa.delete(table))
            if snapshot[table.name]:
                connection.execute(sa.insert(table), snapshot[table.name])


def _logged_status(settings: Settings, kind: str, data: bytes) -> str | None:
    """The ingest log's status for this content (``batch_id`` = SHA-256 of kind + content)."""
    batch_id = hashlib.sha256(kind.encode() + b"\0" + data).hexdigest()
    log = schema.ingest_log
    with open_store(settings).connect() as connection:
        query = sa.select(log.c.status).where(log.c.batch_id == batch_id)
        return connection.execute(query).scalar_one_or_none()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=batches())
def test_catalogue_batches_change_only_what_they_carry(
    catalogue, recloop, tmp_path, batch: Batch
) -> None:
    catalogue, snapshot = catalogue
    _restore(catalogue, snapshot)
    data = batch.csv_bytes()
    path = tmp_path / "batch.csv"
    path.write_bytes(data)
    before = {kind: _table(catalogue, kind) for kind in ("items", "users")}
    result = recloop("ingest", path, "--json", *(["--kind", batch.flag] if batch.flag else []))
    after = {kind: _table(catalogue, kind) for kind in ("items", "users")}
    assert result.exit_code in (0, 2, 3), result.stderr  # never 1 (a bug)
    other = "users" if batch.kind == "items" else "items"
    pd.testing.assert_frame_equal(after[other], before[other])  # never the other catalogue

    event("wrong --kind" if batch.flag not in (None, batch.kind) else f"exit {result.exit_code}")
    if batch.flag not in (None, batch.kind):
        assert result.exit_code == 2 and f"use --kind {batch.kind}" in result.stderr
        pd.testing.assert_frame_equal(after[batch.kind], before[batch.kind])
        return
    report = result.report  # the fixture checked received = accepted + quarantined + dups
    assert report["kind"] == batch.kind and report["received"] == len(batch.rows)
    event(f"status {report['status']}")
    expected, duplicates, bad = _expected(batch, before[batch.kind])
    if bad / len(batch.rows) > MAX_BAD_FRACTION:
        assert (result.exit_code, report["status"]) == (3, "rejected")
        assert report["accepted"] == 0
        pd.testing.assert_frame_equal(after[batch.kind], before[batch.kind])
    else:
        assert result.exit_code == 0, result.stderr
        assert (report["quarantined"], report["duplicates"]) == (bad, duplicates)
        pd.testing.assert_frame_equal(after[batch.kind], expected)
    assert _logged_status(catalogue, batch.kind, data) == report["status"]
    again = recloop("ingest", path, "--json").report  # the same file again changes nothing
    if report["status"] != "rejected":
        assert (again["status"], again["duplicates"]) == ("duplicate", len(batch.rows))
        pd.testing.assert_frame_equal(_table(catalogue, batch.kind), after[batch.kind])
