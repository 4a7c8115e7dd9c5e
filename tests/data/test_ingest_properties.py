"""Properties of ``recloop ingest`` at the boundary, on generated CSV and Parquet batches.

Hypothesis writes batches with ids across and beyond the 64-bit range, text with NUL
bytes, quotes, commas and line breaks, and random column sets (aliases, missing required
columns, extra columns named like recloop's internals), then runs the real CLI
in-process and checks, against what it wrote:

- the exit code follows the contract (0 accepted/partial/duplicate, 2 unusable, 3
  rejected), never 1;
- ``received`` is the number of physical data rows written and equals accepted +
  quarantined + duplicates;
- every stored row is exactly a row that was written (ids compared as Python ints), no
  stored id lies outside [0, 2**63 - 1], and every well-formed row is stored exactly
  unless the batch was rejected;
- every quarantined row keeps its exact bytes (CSV) or exact values (Parquet).

Each batch mixes *good* rows (valid by construction, unique keys with timestamps in
``GOOD_WINDOW``), *wild* rows (anything; their integers avoid that window so a wild row
never shares a key with a good one) and, in CSV, *naive* rows (wild values joined with
commas, unquoted). One store per test, emptied between examples. Runs on SQLite, and on
PostgreSQL when ``RECLOOP_TEST_DATABASE_URL`` is set (fewer examples: each costs a full
ingest, mostly Great Expectations' fixed cost per batch).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from recloop.data import schema
from recloop.data.store import dispose_stores, open_store
from recloop.settings import Settings

GOOD_WINDOW = (1_500_000_000, 1_500_010_000)  # good rows' timestamps; wild ints avoid it
ID_EDGES = [
    0,
    1,
    2**53 - 1,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -1,
    -(2**53) - 1,
    -(2**63),
    -(2**63) - 1,
]
INT64 = (-(2**63), 2**63 - 1)
INTEGER_COLUMNS = ("user_id", "item_id", "timestamp")
TEXT_COLUMNS = ("scenario", "session_id")  # long_text crosses both schema limits
# Source names each canonical column may be written under (aliases included).
NAMES = {
    "user_id": ["user_id", "userId", "user"],
    "item_id": ["item_id", "movieId", "item"],
    "timestamp": ["timestamp", "ts", "time"],
    "value": ["value", "rating", "score"],
    "event_type": ["event_type", "event"],
    "scenario": ["scenario"],
    "session_id": ["session_id"],
}
EXTRAS = ["malformed", "row_number", "src", "user_id_unparsed"]
MAX_ROWS = 20  # rows per batch: cheap next to GX's fixed cost per batch (~0.5 s)
# Examples per format and backend: each is one full ingest, so these bound the file's time.
EXAMPLES = {"sqlite": {"csv": 15, "parquet": 10}, "postgresql": {"csv": 5, "parquet": 3}}


def _examples(backend: str, source_format: str):
    return hypothesis_settings(
        max_examples=EXAMPLES[backend][source_format],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@dataclass(frozen=True)
class Cell:
    """What a batch holds in one field, and what it means.

    ``written``: the CSV text (None: empty field) or the Parquet value. ``meaning``: the
    int, float or text a correct ingest must store for it, or None when the field states
    no storable value (a word in an id column, 2**64, a fraction...).
    """

    written: object
    meaning: object = None


@dataclass
class Batch:
    columns: list[tuple[str, str]]  # (source name, canonical name or the extra's name)
    rows: list[dict[str, Cell]]  # by canonical/extra name
    good: list[bool] = field(default_factory=list)  # per row: valid by construction
    modes: dict[str, str] = field(default_factory=dict)  # Parquet column types
    naive: list[bool] = field(default_factory=list)  # CSV rows written without quoting


# ---- strategies ----------------------------------------------------------------------


def _outside_good_window(number: int) -> bool:
    return not GOOD_WINDOW[0] <= number < GOOD_WINDOW[1]


def _in_int64(number: int) -> int | None:
    return number if INT64[0] <= number <= INT64[1] else None


wild_ints = st.one_of(
    st.sampled_from(ID_EDGES), st.integers(-(2**66), 2**66), st.integers(0, 3000)
).filter(_outside_good_window)
# Text without decimal digits, so that no wild text ever parses as a number; with the
# characters that break naive CSV handling.
junk = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Nd",)),
        st.sampled_from(['"', ",", "\n", "\r", "\x00", " "]),
    ),
    max_size=10,
)
wild_integer_cells = st.one_of(
    wild_ints.map(lambda n: Cell(str(n), _in_int64(n))),
    wild_ints.map(lambda n: Cell(f" {n}.0", _in_int64(n))),
    st.sampled_from(
        [
            Cell(None),
            Cell("NaN"),
            Cell("null"),
            Cell("NA"),
            Cell("1e20"),
            Cell("2.5"),
            Cell("1_000"),
            Cell("0x10"),
        ]
    ),
    junk.map(Cell),
)
wild_value_cells = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: Cell(repr(v), v)),
    st.sampled_from([Cell(None), Cell("NaN"), Cell("inf"), Cell("-inf"), Cell("1e400")]),
    junk.map(Cell),
)
long_text = st.text(alphabet='ab"', min_size=60, max_size=140)
nasty_text = st.sampled_from(
    ["a\x00b", "\x00", 'say "hi"', '"', "a,b", "two\nlines", "cr\rhere", "NaN", "null", "NA", "é"]
)
wild_text_cells = st.one_of(st.none(), nasty_text, junk, long_text).map(
    lambda t: Cell(t, t or None)
)
wild_event_cells = st.sampled_from(["rating", "view", "click", "purchase", "nope", "", "x" * 40])

good_ids = st.one_of(
    st.sampled_from([n for n in ID_EDGES if 0 <= n <= INT64[1]]), st.integers(0, INT64[1])
)
# Text that stores as is: no NUL (PostgreSQL cannot hold one), no line break (a CSV record
# is one line), within the column's length limit. Quotes and commas welcome.
safe_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00\r\n"), max_size=20
)


@st.composite
def layouts(draw) -> list[tuple[str, str]]:
    """A random column set: each canonical column absent or under one of its names."""
    columns = []
    for canonical, names in NAMES.items():
        required = canonical in INTEGER_COLUMNS
        if draw(st.booleans()) or (required and draw(st.integers(0, 19)) > 0):
            columns.append((draw(st.sampled_from(names)), canonical))
    columns += [(name, name) for name in draw(st.sets(st.sampled_from(EXTRAS), max_size=2))]
    return draw(st.permutations(columns)) if columns else [("src", "src")]


def _good_row(draw, position: int, parquet: bool) -> dict[str, Cell]:
    def integer(number: int) -> Cell:
        return Cell(number if parquet else str(number), number)

    rating = draw(st.sampled_from([0.5, 1.0, 3.5, 5.0]))
    text = st.text(max_size=20).filter(lambda t: "\x00" not in t) if parquet else safe_text
    row = {
        "user_id": integer(draw(good_ids)),
        "item_id": integer(draw(good_ids)),
        "timestamp": integer(GOOD_WINDOW[0] + position),
        "value": Cell(rating if parquet else repr(rating), rating),
        "event_type": Cell("rating", "rating"),
    }
    for column in TEXT_COLUMNS:
        value = draw(text)
        row[column] = Cell(value, value or None)
    for extra in EXTRAS:  # ignored columns: anything that keeps the record on one line
        row[extra] = draw(wild_text_cells.filter(lambda c: not _breaks_line(c.written)))
    return row


def _breaks_line(value: object) -> bool:
    return isinstance(value, str) and ("\n" in value or "\r" in value)


def _wild_row(draw) -> dict[str, Cell]:
    row = {column: draw(wild_integer_cells) for column in INTEGER_COLUMNS}
    row["value"] = draw(wild_value_cells)
    event = draw(wild_event_cells)
    row["event_type"] = Cell(event, event or None)
    for column in (*TEXT_COLUMNS, *EXTRAS):
        row[column] = draw(wild_text_cells)
    return row


# Each row is good (valid by construction), wild (any values, written by csv.writer) or
# naive (wild values joined with commas, unquoted, as a careless exporter writes them:
# stray quotes, extra commas and line breaks break the record).
row_kinds = st.lists(st.sampled_from(["good", "wild", "naive"]), min_size=1, max_size=MAX_ROWS)


@st.composite
def csv_batches(draw) -> Batch:
    columns = draw(layouts())
    kinds = draw(row_kinds)
    rows = [
        _good_row(draw, position, parquet=False) if kind == "good" else _wild_row(draw)
        for position, kind in enumerate(kinds)
    ]
    good, naive = [k == "good" for k in kinds], [k == "naive" for k in kinds]
    return Batch(columns, rows, good, naive=naive)


# Parquet column types: ids as int64, uint64 (up to 2**64 - 1) or text; values as
# float64 or text; text columns as strings (any character, line breaks and NUL included).
PARQUET_MODES = {
    "user_id": ["int64", "uint64", "string"],
    "item_id": ["int64", "uint64", "string"],
    "timestamp": ["int64", "string"],
    "value": ["float64", "string"],
}
ARROW_TYPES = {"int64": pa.int64(), "uint64": pa.uint64(), "float64": pa.float64()}


def _wild_parquet_cell(draw, column: str, mode: str) -> Cell:
    if draw(st.integers(0, 9)) == 0:
        return Cell(None)
    if mode == "int64":
        return Cell(draw(wild_ints.filter(lambda n: _in_int64(n) is not None)))
    if mode == "uint64":
        number = draw(wild_ints.filter(lambda n: 0 <= n < 2**64))
        return Cell(number, _in_int64(number))
    if mode == "float64":
        number = draw(st.floats(allow_nan=False))
        return Cell(number, number if abs(number) != float("inf") else None)
    return draw(wild_integer_cells if column in INTEGER_COLUMNS else wild_value_cells)


@st.composite
def parquet_batches(draw) -> Batch:
    columns = draw(layouts())
    modes = {c: draw(st.sampled_from(m)) for c, m in PARQUET_MODES.items()}
    kinds = draw(row_kinds)
    rows = []
    for position, kind in enumerate(kinds):
        if kind == "good":
            row = _good_row(draw, position, parquet=True)
            for column, mode in modes.items():
                if mode == "string":
                    row[column] = Cell(repr(row[column].written), row[column].meaning)
        else:
            row = _wild_row(draw)
            for column, mode in modes.items():
                row[column] = _wild_parquet_cell(draw, column, mode)
        rows.append(row)
    return Batch(columns, rows, [k == "good" for k in kinds], modes, [False] * len(kinds))


# ---- running a batch -----------------------------------------------------------------


@dataclass
class Store:
    backend: str
    settings: Settings


@pytest.fixture(params=["sqlite", "postgresql"])
def batch_store(request, workspace, monkeypatch, tmp_path) -> Store:
    """One store for all examples of a test (emptied before each), on both backends."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("RECLOOP_DATABASE_URL", url)
    yield Store(request.param, Settings())
    dispose_stores()


def _empty_store(settings: Settings) -> None:
    with open_store(settings).begin() as connection:
        for table in (schema.events, schema.quarantine, schema.ingest_log):
            connection.execute(sa.delete(table))


def _write_csv(batch: Batch, path: Path, line_end: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_end)
    writer.writerow([name for name, _ in batch.columns])
    for row, naive in zip(batch.rows, batch.naive, strict=True):
        fields = [row[canonical].written for _, canonical in batch.columns]
        if naive:
            buffer.write(",".join("" if f is None else str(f) for f in fields) + line_end)
        else:
            writer.writerow(fields)
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes(data)
    return data


def _write_parquet(batch: Batch, path: Path) -> None:
    arrays = []
    for _, canonical in batch.columns:
        arrow_type = ARROW_TYPES.get(batch.modes.get(canonical, "string"), pa.string())
        arrays.append(pa.array([row[canonical].written for row in batch.rows], arrow_type))
    names = [name for name, _ in batch.columns]
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)


def _physical_rows(data: bytes) -> list[bytes]:
    """Data lines as written: split at line feeds, CRLF endings dropped, empty lines skipped."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    lines = [line.removesuffix(b"\r") for line in lines[1:]]
    return [line for line in lines if line]


def _unusable(batch: Batch) -> bool:
    present = {canonical for _, canonical in batch.columns}
    return not batch.rows or not set(INTEGER_COLUMNS) <= present


def _stored_events(settings: Settings, batch_id: str) -> list[tuple]:
    table = schema.events
    columns = [table.c[c] for c in ("user_id", "item_id", "timestamp", "event_type", "value")]
    columns += [table.c.scenario, table.c.session_id]
    query = sa.select(*columns).where(table.c.batch_id == batch_id)
    with open_store(settings).connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def _quarantined(settings: Settings, batch_id: str) -> list[dict]:
    table = schema.quarantine
    query = sa.select(table).where(table.c.batch_id == batch_id).order_by(table.c.row_number)
    with open_store(settings).connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def _intended(batch: Batch, row: dict[str, Cell]) -> tuple:
    """The stored form of a row: (user, item, timestamp, event_type, value, scenario, session)."""
    present = {canonical for _, canonical in batch.columns}

    def meaning(column: str, default=None):
        return row[column].meaning if column in present else default

    # No event column: "rating" beside a value column, "interaction" without one (implicit).
    implicit = "value" not in present
    return (
        meaning("user_id"),
        meaning("item_id"),
        meaning("timestamp"),
        meaning("event_type", "interaction" if implicit else "rating"),
        meaning("value", 1.0),
        meaning("scenario"),
        meaning("session_id"),
    )


def _check_report(recloop, path: Path, batch: Batch, received: int, settings: Settings):
    """Run the CLI on ``path`` and check what every generated batch must satisfy."""
    result = recloop("ingest", path, "--kind", "events", "--json")
    assert result.exit_code in (0, 2, 3), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    event(f"outcome: {result.report['status'] if result.report else 'unusable'}")
    if _unusable(batch):
        assert result.exit_code == 2 and result.report is None, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        return None
    report = result.report
    assert result.exit_code == (3 if report["status"] == "rejected" else 0), report
    assert report["received"] == received, report
    assert received == report["accepted"] + report["quarantined"] + report["duplicates"]
    stored = _stored_events(settings, report["batch_id"])
    assert len(stored) == report["accepted"]
    for user, item, *_ in stored:
        assert 0 <= user <= INT64[1] and 0 <= item <= INT64[1]
    intended = {_intended(batch, row)[:5] for row in batch.rows}
    unmatched = [row for row in stored if tuple(row[:5]) not in intended]
    # In a CSV, a row split by a line break in a text field, or written naively, yields
    # lines whose fields may shift; only they may store something no written row states.
    broken = sum(
        naive or any(_breaks_line(cell.written) for cell in row.values())
        for row, naive in zip(batch.rows, batch.naive, strict=True)
    )
    assert len(unmatched) <= (0 if batch.modes else broken), (unmatched, batch)
    if report["status"] != "rejected":
        for row, good in zip(batch.rows, batch.good, strict=True):
            if good:
                assert _intended(batch, row) in set(stored), (row, stored)
    else:
        assert not stored
    quarantined = _quarantined(settings, report["batch_id"])
    assert len(quarantined) == report["quarantined"]
    return report, quarantined


# ---- the properties --------------------------------------------------------------------


def test_csv_batches_keep_every_row_exactly(recloop, batch_store, tmp_path, monkeypatch):
    @_examples(batch_store.backend, "csv")
    @given(
        batch=csv_batches(),
        line_end=st.sampled_from(["\n", "\r\n"]),
        max_bad_fraction=st.sampled_from(["1.0", "1.0", "0.1"]),
    )
    def check(batch: Batch, line_end: str, max_bad_fraction: str) -> None:
        monkeypatch.setenv("RECLOOP_INGEST__MAX_BAD_FRACTION", max_bad_fraction)
        _empty_store(batch_store.settings)
        path = tmp_path / "batch.csv"
        data = _write_csv(batch, path, line_end)
        physical = _physical_rows(data)
        if not any(_breaks_line(cell.written) for row in batch.rows for cell in row.values()):
            assert len(physical) == len(batch.rows)  # one line per row written
        checked = _check_report(recloop, path, batch, len(physical), batch_store.settings)
        if checked is None:
            return
        report, quarantined = checked
        if max_bad_fraction == "1.0":
            assert report["status"] != "rejected"
        for row in quarantined:  # the exact bytes of the line at the row's number
            assert 1 <= row["row_number"] <= len(physical)
            source = physical[row["row_number"] - 1]
            assert base64.b64decode(row["record_base64"]) == source

    check()


def test_parquet_batches_keep_every_row_exactly(recloop, batch_store, tmp_path, monkeypatch):
    @_examples(batch_store.backend, "parquet")
    @given(batch=parquet_batches(), max_bad_fraction=st.sampled_from(["1.0", "1.0", "0.1"]))
    def check(batch: Batch, max_bad_fraction: str) -> None:
        monkeypatch.setenv("RECLOOP_INGEST__MAX_BAD_FRACTION", max_bad_fraction)
        _empty_store(batch_store.settings)
        path = tmp_path / "batch.parquet"
        _write_parquet(batch, path)
        checked = _check_report(recloop, path, batch, len(batch.rows), batch_store.settings)
        if checked is None:
            return
        report, quarantined = checked
        if max_bad_fraction == "1.0":
            assert report["status"] != "rejected"
        for row in quarantined:  # the exact values written (no row bytes in Parquet)
            written = batch.rows[row["row_number"] - 1]
            expected = {canonical: written[canonical].written for _, canonical in batch.columns}
            assert json.loads(row["raw"]) == expected
            assert row["record_base64"] is None

    check()
