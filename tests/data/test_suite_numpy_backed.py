"""Validation gives the same verdicts whether GX reads a column as int64 or nullable Int64.

``validation.suite.numpy_backed`` hands GX plain int64 columns when a chunk has no missing
value (GX's vectorised range checks); a chunk with one missing value keeps ``Int64`` (GX's
per-value path). The property: appending one row with every integer missing, which forces
the per-value path on every column, leaves every other row's verdict unchanged.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recloop.data.readers import RawBatch
from recloop.data.validation_frame import text_length_parameters, validation_frame
from recloop.settings import Settings
from recloop.validation.suite import numpy_backed, validate

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
RULES = Settings().ingest
# Values around every bound the events suite checks, plus the extremes of int64.
EDGES = [
    INT64_MIN,
    -1,
    0,
    1,
    RULES.min_timestamp - 1,
    RULES.min_timestamp,
    1_700_000_000,
    RULES.milliseconds_threshold,
    RULES.milliseconds_threshold + 1,
    INT64_MAX,
]
integers = st.one_of(st.sampled_from(EDGES), st.integers(INT64_MIN, INT64_MAX))


def _verdicts(frame: pd.DataFrame):
    parameters = {
        **text_length_parameters("events"),
        "min_timestamp": RULES.min_timestamp,
        "max_timestamp": 1_800_000_000,
        "milliseconds_threshold": RULES.milliseconds_threshold,
        "event_types": sorted(RULES.value_ranges),
    }
    return validate(frame, "events", parameters, set(), chunk_rows=10_000)


def _frame(rows: list[tuple[int | None, int | None, int | None]]) -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            "user_id": [None if u is None else str(u) for u, _, _ in rows],
            "item_id": [None if i is None else str(i) for _, i, _ in rows],
            "timestamp": [None if t is None else str(t) for _, _, t in rows],
            "event_type": "rating",
            "value": "4",
        }
    )
    return validation_frame(RawBatch(raw, "csv"), "events", Settings())


def test_only_complete_integer_columns_become_numpy():
    frame = _frame([(1, 2, 1_700_000_000), (3, None, 1_700_000_001)])
    backed = numpy_backed(frame)
    assert backed["user_id"].dtype == "int64"
    assert backed["timestamp"].dtype == "int64"
    assert isinstance(backed["item_id"].dtype, pd.Int64Dtype)  # a missing value: kept
    assert backed["user_id"].tolist() == [1, 3]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(integers, integers, integers), min_size=1, max_size=30))
def test_verdicts_do_not_depend_on_the_integer_column_type(rows):
    fast = _verdicts(_frame(rows))
    slow = _verdicts(_frame([*rows, (None, None, None)]))
    last = len(rows)
    assert fast.errors == {r: c for r, c in slow.errors.items() if r != last}
    assert fast.warnings == {r: c for r, c in slow.warnings.items() if r != last}
    assert fast.duplicate_key_rows == {r for r in slow.duplicate_key_rows if r != last}
    assert slow.errors[last] >= {"missing_user_id", "missing_item_id", "missing_timestamp"}
