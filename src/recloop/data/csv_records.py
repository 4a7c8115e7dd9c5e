"""CSV batch files as records: one physical line, one record; every row's exact bytes.

The rules (``read_csv_records``):

- One physical line is one record. A quoted field may hold commas and doubled quotes
  (``"a ""b"", c"``) but not a line break, as in BigQuery's and Spark's CSV loaders by
  default. A line whose quoted field is still open at its end is one row with the problem
  ``unbalanced_quote``: it never swallows the lines after it, which are rows of their
  own. So a legal multi-line quoted field (RFC 4180 allows one) arrives as one
  quarantined row per physical line, each with its exact bytes: send text with line
  breaks as Parquet.
- Other quoting errors on a line (text after a closing quote) and lines with more fields
  than the header are ``malformed_row``; a line with fewer fields lacks the missing
  values (None).
- Fields are text, verbatim (no trimming; ``NaN``, ``null``, ``NA`` stay text). An empty
  field is ``""``.
- Empty lines carry no data and are skipped; every other line after the header is a
  received row. Line endings are ``\n`` or ``\r\n``.
- Bytes that are not UTF-8 survive as ``\\xff`` escapes in the values, and verbatim in
  the row's bytes (``SourceRecords``).

Files without quotes, NULs or stray carriage returns whose lines all have the header's
field count take pandas' C parser (the same fields, much faster); the others are parsed
line by line with the strict ``csv`` reader.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recloop.errors import UnusableInputError

# Problems the parser can find in a row (each is also the row's quarantine reason).
MALFORMED_ROW = "malformed_row"  # more fields than the header, or a quoting error
UNBALANCED_QUOTE = "unbalanced_quote"  # a quoted field still open at the end of its line
SUSPECT_DELIMITERS = (";", "\t", "|")
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SourceRecords:
    """The exact bytes of each row in its source file: slices of the file's content.

    Row ``i`` is ``data[starts[i]:ends[i]]``, its physical line without the line ending
    (``\\n`` or ``\\r\\n``). Kept as offsets: only quarantined rows are ever sliced out.
    """

    data: bytes
    starts: np.ndarray
    ends: np.ndarray

    def __getitem__(self, row: int) -> bytes:
        return self.data[int(self.starts[row]) : int(self.ends[row])]

    def __len__(self) -> int:
        return len(self.starts)


@dataclass
class CsvRecords:
    """A CSV file's data rows: text fields under the header, and what is known per row."""

    frame: pd.DataFrame  # the header's columns, one row per received line
    records: SourceRecords
    problems: np.ndarray | None  # per row: None, MALFORMED_ROW or UNBALANCED_QUOTE
    invalid_utf8: bool
    has_nul: bool


def physical_lines(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte offsets (start, end) of each line, without its ``\\n`` or ``\\r\\n`` ending.

    A final line ending does not start another line.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == 0x0A)
    starts = np.concatenate([[0], newlines + 1]).astype("int64")
    ends = np.concatenate([newlines, [len(data)]]).astype("int64")
    if starts[-1] == len(data):
        starts, ends = starts[:-1], ends[:-1]
    before_end = np.maximum(ends - 1, 0)
    carriage_return = (ends > starts) & (buffer[before_end] == 0x0D)
    return starts, ends - carriage_return


def read_csv_records(path: Path, data: bytes) -> CsvRecords:
    """A comma-separated file with a header, by the rules of this module.

    Args:
        path: the file (for messages).
        data: its content.

    Raises:
        UnusableInputError: the header line is not valid CSV, or looks like another
            delimiter.
    """
    invalid_utf8 = not _is_utf8(data)
    starts, ends = physical_lines(data)
    first_line = data[starts[0] : ends[0]].decode("utf-8", errors="backslashreplace")
    header = _header(path, first_line.removeprefix("\ufeff"))
    if data.startswith(UTF8_BOM):
        starts = starts.copy()
        starts[0] += len(UTF8_BOM)
    body = np.flatnonzero(ends[1:] > starts[1:]) + 1  # data lines that are not empty
    problems = None
    frame = None if invalid_utf8 else _read_plain_csv(data, starts, ends, body, header)
    if frame is None:
        text = data.decode("utf-8", errors="backslashreplace")
        # A line feed byte never occurs inside a multi-byte UTF-8 sequence nor in a
        # backslash escape, so text lines and byte lines correspond one to one.
        lines = text.replace("\r\n", "\n").split("\n")
        fields, problems = _parse_lines([lines[i] for i in body])
        frame = _fields_frame(fields, problems, header)
    return CsvRecords(
        frame=frame,
        records=SourceRecords(data, starts[body], ends[body]),
        problems=problems if problems is not None and pd.notna(problems).any() else None,
        invalid_utf8=invalid_utf8,
        has_nul=b"\0" in data,
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_plain_csv(
    data: bytes, starts: np.ndarray, ends: np.ndarray, body: np.ndarray, header: list[str]
) -> pd.DataFrame | None:
    """Fast path: pandas' C parser, when that gives exactly what ``_parse_lines`` would.

    That is a UTF-8 file without quotes, NULs or carriage returns other than in CRLF
    endings, whose every data line has as many fields as the header: each line is then
    its fields split at the commas, and no line can be ragged (pandas would silently
    drop or shift the extra fields of one). None when any of that does not hold.
    """
    if b'"' in data or b"\0" in data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    commas = np.concatenate([[0], np.cumsum(np.frombuffer(data, dtype=np.uint8) == 0x2C)])
    if (commas[ends[body]] - commas[starts[body]] != len(header) - 1).any():
        return None
    frame = pd.read_csv(
        io.BytesIO(data),
        header=None,
        skiprows=1,
        names=list(range(len(header))),
        dtype=str,
        quoting=csv.QUOTE_NONE,
        na_filter=False,
        skip_blank_lines=True,
        encoding="utf-8",
    )
    if len(frame) != len(body):  # e.g. a line of spaces, which pandas may skip
        return None
    frame = frame.astype(object)
    frame.columns = header
    return frame


def _header(path: Path, line: str) -> list[str]:
    fields, problems = _parse_lines([line])
    if problems[0] is not None:
        raise UnusableInputError(f"{path}: the header line is not valid CSV ({problems[0]})")
    header = [name.strip() for name in fields[0]]
    if len(header) == 1 and any(d in header[0] for d in SUSPECT_DELIMITERS):
        raise UnusableInputError(
            f"{path}: expected comma-separated columns, found one column {header[0]!r} "
            "(wrong delimiter?)"
        )
    return header


def _parse_lines(lines: list[str]) -> tuple[list[list[str]], np.ndarray]:
    """Parse each line (line ending removed) as exactly one CSV record.

    Returns:
        (fields of each line, problem of each line or None); a line with a problem has
        no fields. A line without quotes or carriage returns is split at its commas,
        which is what the CSV rules say for it; the others go through ``csv``.
    """
    fields: list[list[str]] = []
    problems = np.full(len(lines), None, dtype=object)
    for number, line in enumerate(lines):
        if '"' not in line and "\r" not in line:
            fields.append(line.split(","))
            continue
        values, problems[number] = _parse_quoted_line(line)
        fields.append(values)
    return fields, problems


# What the reader gets if it asks for a second line for one record (a quoted field still
# open at the end of the line): a quote followed by a letter, which the strict reader
# rejects, so the record ends with its own line and never takes the next one.
_END_OPEN_QUOTE = '"x'


def _parse_quoted_line(line: str) -> tuple[list[str], str | None]:
    """One line through the strict ``csv`` reader: (fields, None) or ([], problem)."""
    asked_for_more = False

    def feed() -> Iterator[str]:
        nonlocal asked_for_more
        yield line
        asked_for_more = True
        yield _END_OPEN_QUOTE

    try:
        return next(csv.reader(feed(), strict=True)), None
    except csv.Error:
        return [], UNBALANCED_QUOTE if asked_for_more else MALFORMED_ROW


def _fields_frame(fields: list[list[str]], problems: np.ndarray, header: list[str]) -> pd.DataFrame:
    """Rows of text fields under the header; a short row lacks (None) its last values.

    A row with more fields than the header, or one that could not be parsed, has no
    values here (its problem says why; its bytes are kept in ``SourceRecords``).
    """
    width = len(header)
    widths = np.array(list(map(len, fields)), dtype="int64")
    problems[(widths > width) & pd.isna(problems)] = MALFORMED_ROW
    if (widths != width).any():
        empty = [None] * width
        fields = [
            empty
            if problem is not None
            else values + [None] * (width - len(values))
            if len(values) < width
            else values
            for values, problem in zip(fields, problems, strict=True)
        ]
    frame = pd.DataFrame(fields, columns=range(width), dtype=object)
    frame.columns = header  # may repeat a name: canonical_names reports that
    return frame
