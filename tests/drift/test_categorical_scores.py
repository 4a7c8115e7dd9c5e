"""The no-report statistics read categories as a shared categorical type: same numbers.

``evidently_stats._stattest_scores`` hands Evidently's Jensen-Shannon test categorical
columns instead of Python strings (seconds per million rows saved); the distance must be
the one Evidently computes on the strings, on real MovieLens weeks and on windows where a
category appears on one side only.
"""

from __future__ import annotations

import pandas as pd
import pytest

from recloop.drift.evidently_stats import TableColumns, evidently_table
from recloop.drift.features import (
    FEATURE_KINDS,
    FeatureOptions,
    as_plain_strings,
    item_first_seen,
    window_features,
)
from recloop.drift.policy import DecisionRule

from .conftest import WEEK, week_case


def _evidently_on_strings(ref: pd.Series, cur: pd.Series) -> float:
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Categorical
    test = get_stattest(ref, cur, kind, "jensenshannon")
    return float(test(ref, cur, kind, 0.1).drift_score)


def _categorical_spec(table: str) -> TableColumns:
    columns = [c for c, k in FEATURE_KINDS[table].items() if k == "categorical"]
    return TableColumns(
        table=table,
        kinds=FEATURE_KINDS[table],
        alarm=columns,
        watch=[],
        method=dict.fromkeys(columns, "jensenshannon"),
        threshold=dict.fromkeys(columns, 0.1),
    )


def _week_tables(movielens, week: int):
    """The reference and current feature tables of one real MovieLens week."""
    case = week_case(movielens, week)
    options = FeatureOptions(chunk_seconds=WEEK)
    seen = item_first_seen(pd.concat([case.reference, case.current]), case.items, WEEK)
    ref = window_features(case.reference, case.items, case.reference_window[1], seen, options)
    cur = window_features(case.current, case.items, case.current_window[1], seen, options)
    return ref, cur


@pytest.mark.parametrize("week", [6, 20])
def test_distances_equal_evidently_on_the_raw_strings(movielens, week):
    ref, cur = _week_tables(movielens, week)
    for table in ("events", "categories", "users", "items"):
        spec = _categorical_spec(table)
        ref_t, cur_t = as_plain_strings(ref.tables[table]), as_plain_strings(cur.tables[table])
        _, scores, _ = evidently_table(ref_t, cur_t, spec, DecisionRule(), with_report=False)
        for column in spec.columns:
            expected = _evidently_on_strings(ref_t[column].dropna(), cur_t[column].dropna())
            assert scores[f"{table}.{column}"] == pytest.approx(expected, abs=1e-12)


def test_a_category_on_one_side_only_counts_as_in_evidently():
    ref = pd.DataFrame({"event_type": ["view"] * 50 + ["buy"] * 10})
    cur = pd.DataFrame({"event_type": ["view"] * 20 + ["cart"] * 40})
    spec = TableColumns(
        table="events",
        kinds={"event_type": "categorical"},
        alarm=["event_type"],
        watch=[],
        method={"event_type": "jensenshannon"},
        threshold={"event_type": 0.1},
    )
    _, scores, _ = evidently_table(ref, cur, spec, DecisionRule(), with_report=False)
    expected = _evidently_on_strings(ref["event_type"], cur["event_type"])
    assert expected > 0.3
    assert scores["events.event_type"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("week", [6, 20])
def test_the_report_gives_the_no_report_statistics(movielens, week):
    """The report (categories as shared categoricals) and the direct stat tests agree."""
    ref, cur = _week_tables(movielens, week)
    for table in ("events", "categories", "users", "items"):
        spec = TableColumns(
            table=table,
            kinds=FEATURE_KINDS[table],
            alarm=list(FEATURE_KINDS[table]),
            watch=[],
            method={
                c: "jensenshannon" if k == "categorical" else "wasserstein"
                for c, k in FEATURE_KINDS[table].items()
            },
            threshold=dict.fromkeys(FEATURE_KINDS[table], 0.1),
        )
        ref_t, cur_t = as_plain_strings(ref.tables[table]), as_plain_strings(cur.tables[table])
        _, direct, _ = evidently_table(ref_t, cur_t, spec, DecisionRule(), with_report=False)
        snapshot, reported, verdict = evidently_table(
            ref_t, cur_t, spec, DecisionRule(), with_report=True
        )
        assert snapshot is not None and verdict is not None
        assert reported == pytest.approx(direct, abs=1e-12)
