"""Build the frame Great Expectations validates from a raw batch.

GX validates columns; a raw batch holds whatever the source said. This module only
*parses* (it never judges):

- Integer columns (ids, timestamps, ages) are parsed exactly into nullable ``Int64``,
  never through float64, so ids above 2**53 stay distinct. A value that is present but
  is not a whole number inside the store's signed 64-bit ``BIGINT`` range (``"19x"``,
  ``"2.5"``, ``1e20``, 2**63, a uint64 Parquet id above 2**63 - 1) is left out of the
  parsed column and its raw text goes to ``<col>_unparsed``: never clamped, never wrapped.
- Float columns (the event value) likewise: non-numeric or non-finite text goes to
  ``<col>_unparsed``.
- Text columns are kept as ``str`` (empty means missing).
- Row problems the CSV parser found become the ``malformed`` and ``unbalanced_quote``
  columns (non-null on the affected rows).

The suite then says, through GX, which rows are bad and why. Event value bounds per event
type come from settings as ``value_min``/``value_max`` columns so that a static suite can
compare them; text length limits come from the store's schema (``text_length_parameters``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from recloop.columns import EVENT_TYPE_COL, VALUE_COL
from recloop.data import schema
from recloop.data.csv_records import MALFORMED_ROW, UNBALANCED_QUOTE
from recloop.data.readers import RawBatch, event_defaults
from recloop.settings import Settings

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the store's BIGINT
MALFORMED_COL = "malformed"  # validation-frame markers of parser problems
UNBALANCED_QUOTE_COL = "unbalanced_quote"
# A number written in decimal or scientific notation ("12", "-3.0", "1e3"); ASCII digits
# only (Python's int() would also take "1_000" and other scripts' digits).
_DECIMAL_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHORT_INTEGER = r"[+-]?[0-9]{1,18}"  # always inside int64: pandas parses it exactly


@dataclass(frozen=True)
class KindSpec:
    """Column roles of one table kind."""

    integer: tuple[str, ...]
    floating: tuple[str, ...]
    text: tuple[str, ...]
    key: tuple[str, ...]
    table: sa.Table


SPECS = {
    "events": KindSpec(
        integer=("user_id", "item_id", "timestamp"),
        floating=("value",),
        text=("event_type", "scenario", "session_id"),
        key=("user_id", "item_id", "timestamp", "event_type"),
        table=schema.events,
    ),
    "items": KindSpec(
        integer=("item_id", "first_seen"),
        floating=(),
        text=("title", "year", "genres"),
        key=("item_id",),
        table=schema.items,
    ),
    "users": KindSpec(
        integer=("user_id", "age"),
        floating=(),
        text=("gender", "occupation", "zip_code"),
        key=("user_id",),
        table=schema.users,
    ),
}


def text_length_limits(kind: str) -> dict[str, int]:
    """The longest value each bounded text column may hold, read from the store's schema.

    The one source of these numbers: PostgreSQL enforces ``VARCHAR(n)`` and SQLite does
    not, so the suite checks them on every backend (a value over the limit is quarantined,
    never a failed batch on one backend and a stored row on the other).
    """
    spec = SPECS[kind]
    return {
        column.name: column.type.length
        for column in spec.table.columns
        if column.name in spec.text and getattr(column.type, "length", None)
    }


def text_length_parameters(kind: str) -> dict[str, int]:
    """``<column>_max_length`` values for the suite's ``$PARAMETER`` references."""
    return {f"{column}_max_length": n for column, n in text_length_limits(kind).items()}


def validation_frame(raw: RawBatch, kind: str, settings: Settings) -> pd.DataFrame:
    """Canonical columns (parsed), ``*_unparsed`` raw text, problem markers, helper bounds.

    Args:
        raw: the batch as read (canonical names, raw values, row problems).
        kind: events, items or users.
        settings: defaults for absent event columns and value bounds per event type.

    Returns:
        DataFrame with a RangeIndex aligned to ``raw.frame`` (row position = index).
    """
    spec = SPECS[kind]
    source = _with_defaults(raw.frame, kind, settings)
    frame = pd.DataFrame(index=source.index)  # row position = index; row numbers stay in raw
    for column in spec.integer:
        frame[column], frame[f"{column}_unparsed"] = _parse_integers(source[column])
    for column in spec.floating:
        frame[column], frame[f"{column}_unparsed"] = _parse_floats(source[column])
    for column in spec.text:
        frame[column] = _text(source[column])
    frame[MALFORMED_COL] = _marker(raw.problems, MALFORMED_ROW, source.index)
    frame[UNBALANCED_QUOTE_COL] = _marker(raw.problems, UNBALANCED_QUOTE, source.index)
    if kind == "items":
        frame["genres"] = frame["genres"].fillna("")
    if kind == "events":
        ranges = settings.ingest.value_ranges
        event_type = frame[EVENT_TYPE_COL]
        frame["value_min"] = event_type.map({k: float(v[0]) for k, v in ranges.items()})
        frame["value_max"] = event_type.map({k: float(v[1]) for k, v in ranges.items()})
    return frame.copy()  # one consolidated block per dtype: GX slices it many times


def _with_defaults(raw: pd.DataFrame, kind: str, settings: Settings) -> pd.DataFrame:
    """Columns a source may omit: event type and value (``readers.event_defaults``)."""
    spec = SPECS[kind]
    raw = raw.copy(deep=False)
    if kind == "events":
        event_type, value = event_defaults(list(raw.columns), settings.ingest)
        if event_type is not None:
            raw[EVENT_TYPE_COL] = event_type
        if value is not None:
            raw[VALUE_COL] = value
    for column in spec.integer + spec.floating + spec.text:
        if column not in raw:
            raw[column] = None
    return raw


def _marker(problems: np.ndarray | None, code: str, index: pd.Index) -> pd.Series:
    """1.0 on rows with this parser problem, NaN elsewhere."""
    if problems is None:
        return _all_null(index)
    return pd.Series(np.where(problems == code, 1.0, np.nan), index=index)


# ---- integers ------------------------------------------------------------------------


def _parse_integers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(exact Int64 values, raw text of present values that are not 64-bit integers)."""
    dtype = series.dtype
    if pd.api.types.is_signed_integer_dtype(dtype):  # int64 (or narrower): exact already
        return series.astype("Int64"), _all_null(series.index)
    if pd.api.types.is_float_dtype(dtype):
        return _integers_from_floats(series)
    parsed = _clean_numbers(series, pa.int64())
    if parsed is not None:
        return parsed.astype("Int64"), _all_null(series.index)
    text = _present_text(series)
    present = text.notna().to_numpy()
    # Values are written into an int64 buffer, never through a float64 column (pandas
    # would infer one from integers beside missing values, and round them).
    data = np.zeros(len(series), dtype="int64")
    good = _matches(text, _SHORT_INTEGER)
    if good.any():  # up to 18 digits: parsed by pandas, exactly
        data[good] = pd.to_numeric(text[good]).to_numpy(dtype="int64")
    for row in np.flatnonzero(present & ~good):  # the rest, one value at a time
        number = whole_number(text.iat[row])
        if number is not None:
            data[row], good[row] = number, True
    numbers = pd.arrays.IntegerArray(data, ~good)
    return pd.Series(numbers, index=series.index), _unparsed(text, present & ~good)


def _clean_numbers(series: pd.Series, target: pa.DataType) -> pd.Series | None:
    """Fast path for the common case, every value the plain text of a number.

    Arrow's cast parses text to ``target`` in C++, exactly (an integer literal outside
    int64 fails, it is never rounded), and fails the whole column on any value it cannot
    read: a blank, a word, a NUL, "3.0" for an integer. Then None: the slow path looks at
    each value.
    """
    values = series.astype(object)
    if pd.api.types.infer_dtype(values, skipna=False) != "string":
        return None
    try:
        parsed = pc.cast(pa.array(values.to_numpy(), type=pa.string()), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=series.index)


def _present_text(series: pd.Series) -> pd.Series:
    """Values as Python objects, text stripped; None for missing (None, NaN, NA, blank)."""
    values = series.astype(object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":  # CSV: vectorised
        text = values.str.strip()
        return text.where(text.str.len() > 0, None)
    present = []
    for value in values.tolist():
        if isinstance(value, str):
            value = value.strip() or None
        elif value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            value = None
        present.append(value)
    return pd.Series(present, index=series.index, dtype=object)


def _matches(text: pd.Series, pattern: str) -> np.ndarray:
    """Which values are text matching ``pattern`` entirely (others: False)."""
    if pd.api.types.infer_dtype(text, skipna=True) == "string":
        return text.str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False)
    regex = re.compile(pattern)
    return np.array([isinstance(v, str) and bool(regex.fullmatch(v)) for v in text], dtype=bool)


def whole_number(value: object) -> int | None:
    """The exact integer ``value`` states, within the signed 64-bit range; else None.

    Accepts Python/numpy integers, whole finite floats and decimals, and text in decimal
    or scientific notation that denotes a whole number (``"12"``, ``"3.0"``, ``"1e3"``).
    Text is parsed with ``Decimal`` (exact); a huge exponent is rejected before any
    integer is built, so ``"1e999999999"`` costs nothing.
    """
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | np.integer):
        number = int(value)
    elif isinstance(value, float | np.floating):
        if not np.isfinite(value) or not float(value).is_integer():
            return None
        number = int(value)
    else:
        if isinstance(value, str):
            if not _DECIMAL_NUMBER.fullmatch(value):
                return None
            value = Decimal(value)
        if not isinstance(value, Decimal) or not value.is_finite():
            return None
        if value.is_zero():
            return 0
        if value.adjusted() > 18 or value != value.to_integral_value():
            return None
        number = int(value)
    return number if INT64_MIN <= number <= INT64_MAX else None


def _integers_from_floats(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole finite floats inside [-2**63, 2**63) convert exactly; others are unparsed."""
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(values)
    with np.errstate(invalid="ignore"):
        good = (
            np.isfinite(values)
            & (values == np.floor(values))
            & (values >= -(2.0**63))
            & (values < 2.0**63)
        )
    numbers = pd.arrays.IntegerArray(np.where(good, values, 0).astype("int64"), ~good)
    bad = ~good & ~missing
    return pd.Series(numbers, index=series.index), _unparsed(series.astype(object), bad)


# ---- floats and text -----------------------------------------------------------------


def _parse_floats(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(float64 numbers with NaN, raw text of present values that are not finite numbers)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype(object)
    clean = None
    if not pd.api.types.is_numeric_dtype(series.dtype):
        clean = _clean_numbers(series, pa.float64())
    if pd.api.types.is_numeric_dtype(series.dtype) or clean is not None:
        parsed = series.astype("float64") if clean is None else clean.astype("float64")
        present = series.notna().to_numpy()
        text = series.astype(object)
        bad = present & ~np.isfinite(parsed.to_numpy())
    else:
        text = _present_text(series)
        present = text.notna().to_numpy()
        parsed = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = present & ~np.isfinite(parsed.to_numpy())
        bad |= _matches(text, "(?s).*\0.*")  # to_numeric reads "1.5\0x" as 1.5
    return parsed.where(~bad, np.nan), _unparsed(text, bad)


def _unparsed(values: pd.Series, bad: np.ndarray) -> pd.Series:
    """The text of the ``bad`` values, None elsewhere (all-NaN when none is bad)."""
    if not bad.any():
        return _all_null(values.index)
    text = [str(v) if is_bad else None for v, is_bad in zip(values.tolist(), bad, strict=True)]
    return pd.Series(text, index=values.index, dtype=object)


def _text(series: pd.Series) -> pd.Series:
    """Text values as ``str`` or None (empty strings count as missing)."""
    if series.isna().all():
        return _all_null(series.index)
    values = series.astype(object).where(series.notna(), None)
    if pd.api.types.infer_dtype(values, skipna=True) != "string":  # numbers read as text
        values = values.map(lambda v: v if v is None or isinstance(v, str) else str(v))
    empty = values == ""
    return values.where(~empty, None) if empty.any() else values


def _all_null(index: pd.Index) -> pd.Series:
    """An all-missing column as float NaN: GX's null checks on it are far cheaper than on
    an object column of None (the same answer, every row null)."""
    return pd.Series(np.nan, index=index, dtype="float64")
