"""Build the frame Great Expectations validates from a raw batch.

GX validates columns; a raw batch holds whatever the source said. This module only
*parses* (it never judges): for each numeric column it adds the parsed number and, in a
``<col>_unparsed`` column, the raw text of values that are present but are not a number of
the required kind (non-numeric, or not a whole number for ids and timestamps). The suite
then says, through GX, which rows are bad and why. Event value bounds per event type come
from settings as ``value_min``/``value_max`` columns so that a static suite can compare them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recloop.columns import EVENT_TYPE_COL, VALUE_COL
from recloop.data.readers import MALFORMED_COL
from recloop.settings import Settings


@dataclass(frozen=True)
class KindSpec:
    """Column roles of one table kind."""

    integer: tuple[str, ...]
    floating: tuple[str, ...]
    text: tuple[str, ...]
    key: tuple[str, ...]


SPECS = {
    "events": KindSpec(
        integer=("user_id", "item_id", "timestamp"),
        floating=("value",),
        text=("event_type", "scenario", "session_id"),
        key=("user_id", "item_id", "timestamp", "event_type"),
    ),
    "items": KindSpec(
        integer=("item_id", "first_seen"),
        floating=(),
        text=("title", "year", "genres"),
        key=("item_id",),
    ),
    "users": KindSpec(
        integer=("user_id", "age"),
        floating=(),
        text=("gender", "occupation", "zip_code"),
        key=("user_id",),
    ),
}


def validation_frame(raw: pd.DataFrame, kind: str, settings: Settings) -> pd.DataFrame:
    """Canonical columns (parsed), ``*_unparsed`` raw text, ``malformed``, helper bounds.

    Args:
        raw: ``RawBatch.frame`` (canonical names, raw values).
        kind: events, items or users.
        settings: defaults for absent event columns and value bounds per event type.

    Returns:
        DataFrame with a RangeIndex aligned to ``raw`` (row position = index).
    """
    spec = SPECS[kind]
    raw = _with_defaults(raw, kind, settings)
    frame = pd.DataFrame(index=raw.index)  # row position = index; row numbers stay in raw
    for column in spec.integer + spec.floating:
        parsed, unparsed = _parse_number(raw[column], whole=column in spec.integer)
        frame[column] = parsed
        frame[f"{column}_unparsed"] = unparsed
    for column in spec.text:
        frame[column] = _text(raw[column])
    malformed = raw.get(MALFORMED_COL)
    frame[MALFORMED_COL] = _text(malformed) if malformed is not None else _all_null(raw.index)
    if kind == "items":
        frame["genres"] = frame["genres"].fillna("")
    if kind == "events":
        ranges = settings.ingest.value_ranges
        event_type = frame[EVENT_TYPE_COL]
        frame["value_min"] = event_type.map({k: float(v[0]) for k, v in ranges.items()})
        frame["value_max"] = event_type.map({k: float(v[1]) for k, v in ranges.items()})
    return frame.copy()  # one consolidated block per dtype: GX slices it many times


def _with_defaults(raw: pd.DataFrame, kind: str, settings: Settings) -> pd.DataFrame:
    """Columns a source may omit: event type (settings), value (1.0: implicit feedback)."""
    spec = SPECS[kind]
    raw = raw.copy(deep=False)
    if kind == "events" and EVENT_TYPE_COL not in raw:
        raw[EVENT_TYPE_COL] = settings.ingest.default_event_type
    if kind == "events" and VALUE_COL not in raw:
        raw[VALUE_COL] = 1.0
    for column in spec.integer + spec.floating + spec.text:
        if column not in raw:
            raw[column] = None
    return raw


def _parse_number(series: pd.Series, whole: bool) -> tuple[pd.Series, pd.Series]:
    """(float64 numbers with NaN, raw text of present values that fail to parse)."""
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(object)
    if pd.api.types.is_numeric_dtype(series):
        parsed = series.astype("float64")
        present_raw = None
    else:
        text = series.astype(object).where(series.notna(), None)
        stripped = text.where(text.isna(), text.astype(str).str.strip())
        stripped = stripped.where(stripped != "", None)
        parsed = pd.to_numeric(stripped, errors="coerce").astype("float64")
        present_raw = stripped
    bad = pd.Series(False, index=series.index)
    if present_raw is not None:
        bad |= present_raw.notna() & parsed.isna()
    finite = np.isfinite(parsed.to_numpy())
    bad |= parsed.notna() & ~finite
    if whole:
        bad |= pd.Series(finite, index=series.index) & (parsed != np.floor(parsed))
    if not bad.any():
        return parsed, _all_null(series.index)
    source = present_raw if present_raw is not None else series
    unparsed = source.astype(object).where(bad, None)
    unparsed = unparsed.map(lambda v: None if v is None else str(v))
    return parsed.where(~bad, np.nan), unparsed


def _text(series: pd.Series | None) -> pd.Series | None:
    """Text values as ``str`` or None (empty strings count as missing)."""
    if series is None:
        return None
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
