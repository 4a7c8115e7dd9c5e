"""Readers that turn source files into recloop's canonical DataFrames (see ``columns``).

This module only parses; it never drops or fixes rows. Validation decides what is bad.

Two families of readers:

- ``read_batch(path, kind)``: one incoming batch file for ingest (canonical CSV/Parquet,
  the MovieLens CSV form, GroupLens originals) as a ``RawBatch``: the source's values as
  received (CSV fields as text, verbatim: ``NaN``, ``null`` or ``NA`` stay text; Parquet
  values in their exact type, 64-bit integers included), plus, outside the frame so that
  no source column can collide with them, each row's number, its exact bytes in the file
  and any problem the parser found in it.
- ``read_dataset(directory)`` / ``read_movielens_canonical``: a whole dataset directory as
  clean canonical tables (replay, fetch, simulate, tests), events in file order. Event
  files without a value column (MovieLens-1M, Amazon Beauty) are implicit feedback: each
  row one positive interaction, with the same defaults ingest gives (``event_defaults``).

How a CSV batch becomes records (one physical line each: a quote left open never
swallows the next lines) is ``csv_records``' job; see its docstring.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recloop.columns import (
    EVENT_TYPE_COL,
    FIRST_SEEN_COL,
    GENRES_COL,
    ITEM_COL,
    ITEM_COLUMNS,
    SCENARIO_COL,
    SESSION_COL,
    TIMESTAMP_COL,
    TITLE_COL,
    USER_COL,
    VALUE_COL,
    YEAR_COL,
)
from recloop.data.csv_records import (
    UNBALANCED_QUOTE,
    SourceRecords,
    physical_lines,
    read_csv_records,
)
from recloop.data.grouplens import GROUPLENS_READERS, split_title_year
from recloop.data.kinds import KINDS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, resolve_kind
from recloop.errors import UnusableInputError
from recloop.settings import IngestSettings

# Source column names (lower-cased) that mean a canonical column.
COLUMN_ALIASES = {
    "userid": USER_COL,
    "user": USER_COL,
    "movieid": ITEM_COL,
    "movie_id": ITEM_COL,
    "itemid": ITEM_COL,
    "item": ITEM_COL,
    "rating": VALUE_COL,
    "score": VALUE_COL,
    "ts": TIMESTAMP_COL,
    "time": TIMESTAMP_COL,
    "event": EVENT_TYPE_COL,
    "zip": "zip_code",
    "zip-code": "zip_code",
    "zipcode": "zip_code",
}
# What a path that is not a regular file is, for the error message.
FILE_TYPES = {
    stat.S_ISDIR: "a directory; ingest one batch file at a time",
    stat.S_ISFIFO: "a named pipe (FIFO)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


@dataclass
class Dataset:
    """A dataset in canonical form; ``items``/``users`` may be absent."""

    events: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None


@dataclass
class RawBatch:
    """One source as received: the source's columns (canonical names) and raw values.

    Everything recloop adds about a row lives beside the frame, never in it, so that a
    source column may be called anything (``row_number``, ``malformed``...).
    """

    frame: pd.DataFrame
    source_format: str
    ignored_columns: list[str] = field(default_factory=list)
    # True when the file was not valid UTF-8: bad bytes are kept as "\\xff" escapes.
    invalid_utf8: bool = False
    kind: str = "events"  # the kind its columns fit (``kinds.resolve_kind``)
    # Columns the reader computed from others (items' year from "Title (1995)"): they say
    # something only where a value was found, so a null there is no statement.
    derived_columns: list[str] = field(default_factory=list)
    # 1-based data row of the source (header and empty lines excluded); default 1..n.
    row_numbers: np.ndarray | None = None
    # Exact bytes of each row (text sources); None when the source has no row bytes
    # (Parquet, DataFrames: their values are exact as read).
    records: SourceRecords | None = None
    # Per row: None, MALFORMED_ROW or UNBALANCED_QUOTE (None: no row has a problem).
    problems: np.ndarray | None = None
    # True when some value holds a NUL character (no store column can keep one).
    has_nul: bool = False

    def __post_init__(self) -> None:
        if self.row_numbers is None:
            self.row_numbers = np.arange(1, len(self.frame) + 1, dtype="int64")

    @property
    def conditions(self) -> set[str]:
        """The suite's conditional checks this batch needs (see ``validation.suite``)."""
        found = {
            "invalid_utf8": self.invalid_utf8,
            "nul_character": self.has_nul,
            UNBALANCED_QUOTE: self.problems is not None and UNBALANCED_QUOTE in self.problems,
        }
        return {name for name, present in found.items() if present}


# ---- batch files ---------------------------------------------------------------------


def infer_kind(path: str | Path) -> str:
    """Guess events/items/users from a file name (``u.item``, ``movies.dat``, ``users.csv``).

    Only a hint for ordering files (catalogues before events); which table a batch goes
    to is decided by its columns (``read_batch``, ``kinds.resolve_kind``).
    """
    name = Path(path).name.lower()
    if name in {"u.item", "movies.dat", "movies.csv"} or name.startswith("items"):
        return "items"
    if name in {"u.user", "users.dat"} or name.startswith("users"):
        return "users"
    return "events"


def read_batch(path: str | Path, kind: str | None = None) -> RawBatch:
    """Read one batch file for ingest, keeping raw values and each row's bytes.

    Args:
        path: a CSV (canonical header or the MovieLens forms; ``csv_records`` says how
            records and quotes are read), a Parquet file, or a GroupLens original
            (``u.data``, ``u.item``, ``u.user``, ``ratings.dat``, ``movies.dat``,
            ``users.dat``, ml-latest ``ratings.csv``/``movies.csv``).
        kind: ``events``, ``items`` or ``users``, or None: the kind the columns fit.

    Returns:
        RawBatch: one frame row per received row, and the batch's ``kind``.

    Raises:
        UnusableInputError: missing, unreadable, empty or not a regular file; no data
            rows; unreadable format; missing required columns (for example a wrong
            delimiter), columns that do not fit ``kind`` (see ``recloop.data.kinds``).
    """
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise UnusableInputError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    _check_regular_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data.strip():
        raise UnusableInputError(f"{path}: the file is empty")
    name = path.name.lower()
    if name in GROUPLENS_READERS:
        raw = _read_grouplens(path, name, data)
    elif path.suffix.lower() in {".parquet", ".pq"}:
        raw = _read_parquet(path)
    else:
        csv_file = read_csv_records(path, data)
        raw = RawBatch(
            frame=csv_file.frame,
            source_format="csv",
            invalid_utf8=csv_file.invalid_utf8,
            records=csv_file.records,
            problems=csv_file.problems,
            has_nul=csv_file.has_nul,
        )
    raw.frame, raw.kind, raw.ignored_columns = canonical_names(raw.frame, kind, path)
    if len(raw.frame) == 0:
        raise UnusableInputError(f"{path}: the file has a header but no data rows")
    if raw.kind == "items" and "year" not in raw.frame.columns and "title" in raw.frame.columns:
        raw.frame, raw.derived_columns = split_title_year(raw.frame), ["year"]
    return raw


def batch_from_frame(frame: pd.DataFrame, kind: str | None, source: str) -> RawBatch:
    """A DataFrame (canonical or aliased column names) as a batch, like a Parquet file."""
    canonical, kind, ignored = canonical_names(frame.reset_index(drop=True), kind, Path(source))
    return RawBatch(
        frame=canonical,
        source_format="dataframe",
        ignored_columns=ignored,
        kind=kind,
        has_nul=_frame_has_nul(canonical),
    )


def _check_regular_file(path: Path) -> None:
    """Only a regular file is a batch: a FIFO would block the read, a device never ends."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UnusableInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISREG(mode):
        return
    what = next((text for test, text in FILE_TYPES.items() if test(mode)), "not a file")
    raise UnusableInputError(f"{path}: is not a regular file (it is {what})")


def _read_parquet(path: Path) -> RawBatch:
    """Parquet values in exact types: nullable integers stay integers (never float64)."""
    try:
        frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise UnusableInputError(f"{path}: not a readable Parquet file ({exc})") from None
    return RawBatch(frame=frame, source_format="parquet", has_nul=_frame_has_nul(frame))


def _read_grouplens(path: Path, name: str, data: bytes) -> RawBatch:
    """GroupLens originals: one record per line (no quoting), Latin-1."""
    try:
        frame = GROUPLENS_READERS[name](path)
    except (ValueError, pd.errors.ParserError) as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UnusableInputError(f"{path}: not a readable {name} file ({message})") from None
    starts, ends = physical_lines(data)
    keep = ends > starts
    records = None
    if keep.sum() == len(frame):  # one row per non-empty line: the row's bytes are known
        records = SourceRecords(data, starts[keep], ends[keep])
    return RawBatch(
        frame=frame, source_format=f"grouplens:{name}", records=records, has_nul=b"\0" in data
    )


def _frame_has_nul(frame: pd.DataFrame) -> bool:
    """Whether a text value of the frame holds a NUL character."""
    texts = [
        frame[column].tolist()
        for column in frame.columns
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column].dtype)
    ]
    return any("\0" in "".join(v for v in values if isinstance(v, str)) for values in texts)


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return COLUMN_ALIASES.get(key, key)


def canonical_names(
    frame: pd.DataFrame, kind: str | None, path: Path
) -> tuple[pd.DataFrame, str, list]:
    """Rename source columns to canonical names, settle the kind, known columns first.

    Columns recloop does not know stay in the frame (quarantine keeps whole rows) and
    are reported as ignored; validation reads only the known ones.

    Returns:
        (frame with the kind's columns first, then the ignored ones; the kind the columns
        fit, which must be ``kind`` when one was given; the ignored column names).
    """
    renames = {c: _canonical(str(c)) for c in frame.columns}
    frame = frame.rename(columns=renames)
    if frame.columns.duplicated().any():
        dupes = sorted(map(str, set(frame.columns[frame.columns.duplicated()])))
        raise UnusableInputError(f"{path}: duplicate columns {', '.join(dupes)}")
    kind = resolve_kind(list(frame.columns), kind, path)
    known = [*REQUIRED_COLUMNS[kind], *OPTIONAL_COLUMNS[kind]]
    ignored = [str(c) for c in frame.columns if c not in known]
    return frame[[c for c in known if c in frame.columns] + ignored], kind, ignored


# ---- whole datasets ------------------------------------------------------------------


def event_defaults(columns: list[str], rules: IngestSettings) -> tuple[str | None, float | None]:
    """The event type and value given to rows of a source that lacks those columns.

    One rule for ingest (``validation_frame``) and the whole-dataset readers, so a dataset
    read directly and the same files ingested hold the same events:

    - a value (rating) column but no event column: ``rules.default_event_type``
      ("rating": explicit feedback such as MovieLens-100k's 1-5 stars);
    - neither column: implicit feedback, each row one positive interaction:
      ``rules.implicit_event_type`` ("interaction") with ``rules.implicit_value`` (1.0);
    - an event column but no value: ``rules.implicit_value`` (the event counts once).

    Args:
        columns: the source's canonical column names.
        rules: the ingest settings holding the defaults.

    Returns:
        (event type, value) to fill; None for a column the source has.
    """
    has_type, has_value = EVENT_TYPE_COL in columns, VALUE_COL in columns
    if has_type:
        return None, None if has_value else rules.implicit_value
    if has_value:
        return rules.default_event_type, None
    return rules.implicit_event_type, rules.implicit_value


def read_movielens_canonical(directory: str | Path, rules: IngestSettings | None = None) -> Dataset:
    """Read a dataset in canonical CSV form (interactions.csv, items.csv, users.csv).

    The form of every dataset in ../shared/datasets: MovieLens-100k (explicit ratings,
    title/year/genres), MovieLens-1M (implicit, title/year/genres), Amazon Beauty
    (implicit, title only).

    Args:
        directory: folder such as ``../shared/datasets/movielens-100k``.
        rules: ingest settings whose event defaults apply (``event_defaults``); None:
            the defaults.

    Returns:
        Dataset: events in file order (index 0..n-1; a stable sort by time keeps that
        order among equal timestamps, which is how these datasets order their ties);
        a rating column gives ``event_type="rating"``, a file without value column gives
        implicit interactions (``event_type="interaction"``, value 1.0). Items with every
        canonical column (``catalog_columns``: absent year/genres become null/""), titles
        kept verbatim (Beauty's HTML entities included) and ``year`` as text (item 267 of
        MovieLens-100k really says "unkonwn"); users when users.csv exists.
    """
    directory = Path(directory)
    events = _events_from(pd.read_csv(directory / "interactions.csv"), rules)
    items = pd.read_csv(directory / "items.csv", dtype={"year": "string", "title": "string"})
    items = catalog_columns(items.rename(columns=lambda c: _canonical(str(c))))
    users = None
    if (directory / "users.csv").exists():
        users = pd.read_csv(directory / "users.csv", dtype={"zip_code": "string"})
    return Dataset(events=events, items=items, users=users)


def catalog_columns(items: pd.DataFrame) -> pd.DataFrame:
    """Items with every canonical column, as the store holds them, others after.

    A catalogue without a column (Beauty has no year, no genres) gets it empty: null
    title/year, "" genres (the store's form), null ``first_seen``. Which fields the item
    text uses is ``model.text.item_texts``' business: empty ones are skipped there.
    """
    items = items.copy()
    for column in (TITLE_COL, YEAR_COL):
        if column not in items.columns:
            items[column] = pd.array([pd.NA] * len(items), dtype="string")
    items[GENRES_COL] = items[GENRES_COL].fillna("") if GENRES_COL in items.columns else ""
    if FIRST_SEEN_COL not in items.columns:
        items[FIRST_SEEN_COL] = pd.array([None] * len(items), dtype="Int64")
    items[ITEM_COL] = pd.to_numeric(items[ITEM_COL]).astype("int64")  # CSV sources: text
    others = [c for c in items.columns if c not in ITEM_COLUMNS]
    return items[[*ITEM_COLUMNS, *others]]


def _events_from(raw: pd.DataFrame, rules: IngestSettings | None) -> pd.DataFrame:
    """Canonical events from a whole events file, in file order (defaults: ``event_defaults``)."""
    raw = raw.rename(columns=lambda c: _canonical(str(c)))
    event_type, value = event_defaults(list(raw.columns), rules or IngestSettings())
    return pd.DataFrame(
        {
            USER_COL: pd.to_numeric(raw[USER_COL]).astype("int64"),
            ITEM_COL: pd.to_numeric(raw[ITEM_COL]).astype("int64"),
            EVENT_TYPE_COL: raw[EVENT_TYPE_COL] if event_type is None else event_type,
            VALUE_COL: pd.to_numeric(raw[VALUE_COL]).astype("float64")
            if value is None
            else float(value),
            TIMESTAMP_COL: pd.to_numeric(raw[TIMESTAMP_COL]).astype("int64"),
            SCENARIO_COL: raw[SCENARIO_COL] if SCENARIO_COL in raw.columns else None,
            SESSION_COL: raw[SESSION_COL] if SESSION_COL in raw.columns else None,
        }
    )


# File that marks each dataset layout, and the files of its three tables.
LAYOUTS = {
    "canonical": ("interactions.csv", "items.csv", "users.csv"),
    "ml-100k": ("u.data", "u.item", "u.user"),
    "ml-1m": ("ratings.dat", "movies.dat", "users.dat"),
    "ml-latest": ("ratings.csv", "movies.csv", None),
}


def read_dataset(directory: str | Path, rules: IngestSettings | None = None) -> Dataset:
    """Read a dataset directory in any supported layout as clean canonical tables.

    Args:
        directory: canonical CSV form, or a GroupLens ml-100k / ml-1m / ml-latest(-small)
            directory (the zip's top folder).
        rules: ingest settings whose event defaults apply (``event_defaults``); None:
            the defaults.

    Raises:
        UnusableInputError: the directory holds no known layout.
    """
    directory = Path(directory)
    if (directory / "interactions.csv").exists():
        return read_movielens_canonical(directory, rules)
    for layout, (events_file, items_file, users_file) in LAYOUTS.items():
        if layout != "canonical" and (directory / events_file).exists():
            files = (events_file, items_file, users_file)
            return _read_grouplens_dataset(directory, *files, rules=rules)
    raise UnusableInputError(
        f"{directory}: no known dataset layout (interactions.csv, u.data, ratings.dat, ratings.csv)"
    )


def _read_grouplens_dataset(
    directory: Path, events_file, items_file, users_file, rules: IngestSettings | None
) -> Dataset:
    events = _events_from(read_batch(directory / events_file, "events").frame, rules)
    items = users = None
    if items_file and (directory / items_file).exists():
        items = catalog_columns(read_batch(directory / items_file, "items").frame)
        items["genres"] = items["genres"].replace("(no genres listed)", "")
    if users_file and (directory / users_file).exists():
        users = read_batch(directory / users_file, "users").frame
    return Dataset(events=events, items=items, users=users)
