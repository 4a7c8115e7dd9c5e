"""Readers that turn source files into recloop's canonical DataFrames (see ``columns``).

This module only parses; it never drops or fixes rows. Validation decides what is bad.

Two families of readers:

- ``read_batch(path, kind)``: one incoming batch file for ingest (canonical CSV/Parquet,
  the MovieLens CSV form, GroupLens originals). Values are kept as received (numbers where
  the whole column parses, text otherwise; non-UTF-8 bytes survive as ``\\xff`` escapes) so
  that quarantined rows keep their raw content.
- ``read_dataset(directory)`` / ``read_movielens_canonical``: a whole dataset directory as
  clean canonical tables (replay, fetch, tests).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recloop.columns import (
    EVENT_TYPE_COL,
    FIRST_SEEN_COL,
    ITEM_COL,
    SCENARIO_COL,
    SESSION_COL,
    TIMESTAMP_COL,
    USER_COL,
    VALUE_COL,
)
from recloop.data.grouplens import GROUPLENS_READERS, split_title_year
from recloop.data.kinds import KINDS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, resolve_kind
from recloop.errors import UnusableInputError

ROW_NUMBER_COL = "row_number"  # 1-based data row of the source (header excluded)
MALFORMED_COL = "malformed"  # raw text of a row whose field count does not match the header

TEXT_COLUMNS = {
    EVENT_TYPE_COL,
    SCENARIO_COL,
    SESSION_COL,
    "title",
    "year",
    "genres",
    "gender",
    "occupation",
    "zip_code",
}
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
SUSPECT_DELIMITERS = (";", "\t", "|")


@dataclass
class Dataset:
    """A dataset in canonical form; ``items``/``users`` may be absent."""

    events: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None


@dataclass
class RawBatch:
    """One source file as received: canonical column names, raw values, row numbers."""

    frame: pd.DataFrame
    source_format: str
    ignored_columns: list[str] = field(default_factory=list)
    # True when the file was not valid UTF-8: bad bytes are kept as "\\xff" escapes.
    invalid_utf8: bool = False
    kind: str = "events"  # the kind its columns fit (``kinds.resolve_kind``)
    # Columns the reader computed from others (items' year from "Title (1995)"): they say
    # something only where a value was found, so a null there is no statement.
    derived_columns: list[str] = field(default_factory=list)


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
    """Read one batch file for ingest, keeping raw values.

    Args:
        path: a CSV (canonical header or the MovieLens forms), a Parquet file, or a GroupLens
            original (``u.data``, ``u.item``, ``u.user``, ``ratings.dat``, ``movies.dat``,
            ``users.dat``, ml-latest ``ratings.csv``/``movies.csv``).
        kind: ``events``, ``items`` or ``users``, or None: the kind the columns fit.

    Returns:
        RawBatch with a ``row_number`` column and the batch's ``kind``.

    Raises:
        UnusableInputError: missing/empty file, no data rows, unreadable format, missing
            required columns (for example a wrong delimiter), columns that do not fit
            ``kind`` (see ``recloop.data.kinds``).
    """
    path = Path(path)
    if kind is not None and kind not in KINDS:
        raise UnusableInputError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if path.is_dir():
        raise UnusableInputError(f"{path}: is a directory; ingest one batch file at a time")
    if not path.is_file():
        raise UnusableInputError(f"{path}: no such file")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be read ({exc.strerror})") from None
    if path.stat().st_size == 0 or not path.read_bytes()[:4096].strip():
        raise UnusableInputError(f"{path}: the file is empty")
    name = path.name.lower()
    invalid_utf8 = name not in GROUPLENS_READERS and not _is_utf8(path)
    if name in GROUPLENS_READERS:
        frame, source_format = GROUPLENS_READERS[name](path), f"grouplens:{name}"
    elif path.suffix.lower() in {".parquet", ".pq"}:
        frame, source_format = _read_parquet(path), "parquet"
    else:
        frame, source_format = _read_csv(path), "csv"
    frame, kind, ignored = canonical_names(frame, kind, path)
    if len(frame) == 0:
        raise UnusableInputError(f"{path}: the file has a header but no data rows")
    derived = []
    if kind == "items" and "year" not in frame.columns and "title" in frame.columns:
        frame, derived = split_title_year(frame), ["year"]
    frame.insert(0, ROW_NUMBER_COL, pd.RangeIndex(1, len(frame) + 1, dtype="int64"))
    return RawBatch(
        frame=frame.reset_index(drop=True),
        source_format=source_format,
        ignored_columns=ignored,
        invalid_utf8=invalid_utf8,
        kind=kind,
        derived_columns=derived,
    )


def _is_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise UnusableInputError(f"{path}: not a readable Parquet file ({exc})") from None


def _read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", errors="backslashreplace", newline="") as handle:
        first = handle.readline()
    return [name.strip() for name in next(csv.reader([first]))]


def _read_csv(path: Path) -> pd.DataFrame:
    """Comma-separated file with a header; tolerant of ragged rows and bad bytes."""
    header = _read_header(path)
    if len(header) == 1 and any(d in header[0] for d in SUSPECT_DELIMITERS):
        raise UnusableInputError(
            f"{path}: expected comma-separated columns, found one column {header[0]!r} "
            "(wrong delimiter?)"
        )
    text_columns = {name: object for name in header if _canonical(name) in TEXT_COLUMNS}
    try:
        return pd.read_csv(
            path,
            encoding="utf-8",
            encoding_errors="backslashreplace",
            dtype=text_columns,
            skipinitialspace=True,
        )
    except pd.errors.ParserError:
        return _read_csv_ragged(path, header)
    except (UnicodeError, ValueError) as exc:
        raise UnusableInputError(f"{path}: not a readable CSV file ({exc})") from None


def _read_csv_ragged(path: Path, header: list[str]) -> pd.DataFrame:
    """Slow path for rows with too many fields: keep them, marked ``malformed``."""
    rows, malformed = [], []
    with path.open(encoding="utf-8", errors="backslashreplace", newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        next(reader)
        for fields in reader:
            if not fields:
                continue
            if len(fields) > len(header):
                rows.append([None] * len(header))
                malformed.append(",".join(fields))
            else:
                rows.append(
                    [f if f != "" else None for f in fields] + [None] * (len(header) - len(fields))
                )
                malformed.append(None)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    for column in header:
        if _canonical(column) not in TEXT_COLUMNS:
            frame[column] = _numeric_if_clean(frame[column])
    frame[MALFORMED_COL] = pd.Series(malformed, dtype=object)
    return frame


def _numeric_if_clean(series: pd.Series) -> pd.Series:
    """Numbers when every present value parses, the raw text otherwise."""
    parsed = pd.to_numeric(series, errors="coerce")
    return parsed if parsed.notna().sum() == series.notna().sum() else series


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return COLUMN_ALIASES.get(key, key)


def canonical_names(
    frame: pd.DataFrame, kind: str | None, path: Path
) -> tuple[pd.DataFrame, str, list]:
    """Rename source columns to canonical names, settle the kind, keep the known columns.

    Returns:
        (frame with the kind's columns first, then the ignored ones; the kind the columns
        fit, which must be ``kind`` when one was given; the ignored column names).
    """
    renames = {c: _canonical(str(c)) for c in frame.columns}
    frame = frame.rename(columns=renames)
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise UnusableInputError(f"{path}: duplicate columns {', '.join(dupes)}")
    kind = resolve_kind([c for c in frame.columns if c != MALFORMED_COL], kind, path)
    known = [*REQUIRED_COLUMNS[kind], *OPTIONAL_COLUMNS[kind], MALFORMED_COL]
    ignored = [str(c) for c in frame.columns if c not in known]
    # Extra columns stay in the frame (quarantine keeps whole rows); validation ignores them.
    return frame[[c for c in known if c in frame.columns] + ignored], kind, ignored


# ---- whole datasets ------------------------------------------------------------------


def read_movielens_canonical(directory: str | Path) -> Dataset:
    """Read the canonical CSV form of MovieLens (interactions.csv, items.csv, users.csv).

    Args:
        directory: folder such as ``../shared/datasets/movielens-100k``.

    Returns:
        Dataset: events in file order (ratings as ``event_type="rating"``), items with
        ``year`` kept as text (item 267 really says "unkonwn"), users.
    """
    directory = Path(directory)
    raw = pd.read_csv(directory / "interactions.csv")
    events = _events_from(raw)
    items = pd.read_csv(directory / "items.csv", dtype={"year": "string", "title": "string"})
    items["genres"] = items["genres"].fillna("")
    items[FIRST_SEEN_COL] = pd.array([None] * len(items), dtype="Int64")
    users = None
    if (directory / "users.csv").exists():
        users = pd.read_csv(directory / "users.csv", dtype={"zip_code": "string"})
    return Dataset(events=events, items=items, users=users)


def _events_from(raw: pd.DataFrame) -> pd.DataFrame:
    value = raw["rating"] if "rating" in raw.columns else raw[VALUE_COL]
    return pd.DataFrame(
        {
            USER_COL: raw[USER_COL].astype("int64"),
            ITEM_COL: raw[ITEM_COL].astype("int64"),
            EVENT_TYPE_COL: raw[EVENT_TYPE_COL] if EVENT_TYPE_COL in raw.columns else "rating",
            VALUE_COL: value.astype("float64"),
            TIMESTAMP_COL: raw[TIMESTAMP_COL].astype("int64"),
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


def read_dataset(directory: str | Path) -> Dataset:
    """Read a dataset directory in any supported layout as clean canonical tables.

    Args:
        directory: canonical CSV form, or a GroupLens ml-100k / ml-1m / ml-latest(-small)
            directory (the zip's top folder).

    Raises:
        UnusableInputError: the directory holds no known layout.
    """
    directory = Path(directory)
    if (directory / "interactions.csv").exists():
        return read_movielens_canonical(directory)
    for layout, (events_file, items_file, users_file) in LAYOUTS.items():
        if layout != "canonical" and (directory / events_file).exists():
            return _read_grouplens_dataset(directory, events_file, items_file, users_file)
    raise UnusableInputError(
        f"{directory}: no known dataset layout (interactions.csv, u.data, ratings.dat, ratings.csv)"
    )


def _read_grouplens_dataset(directory: Path, events_file, items_file, users_file) -> Dataset:
    events = _events_from(read_batch(directory / events_file, "events").frame)
    items = users = None
    if items_file and (directory / items_file).exists():
        items = read_batch(directory / items_file, "items").frame.drop(columns=ROW_NUMBER_COL)
        items["genres"] = items["genres"].fillna("").replace("(no genres listed)", "")
        items[FIRST_SEEN_COL] = pd.array([None] * len(items), dtype="Int64")
    if users_file and (directory / users_file).exists():
        users = read_batch(directory / users_file, "users").frame.drop(columns=ROW_NUMBER_COL)
    return Dataset(events=events, items=items, users=users)
