"""Evidently's statistics for one feature table, and Evidently's own verdict on that table.

recloop decides drift itself (``recloop.drift.detect.decide``), but the report links
Evidently's page, whose headline is Evidently's "Dataset Drift is (NOT) detected". So the
preset is configured to judge what recloop judges: only the table's **alarm** features go
into ``DataDriftPreset`` (watch-only features get a standalone ``ValueDrift``: plotted,
never counted), and its ``drift_share`` is recloop's ``min_share_drifted``, raised to one
feature's share when lower: Evidently calls a table drifted when ``share >= drift_share``,
so 0 would call every table drifted. With the default rule (one alarm feature, any share)
recloop's verdict is then "drift detected" exactly when Evidently detects drift in at
least one table; with other rules the two can differ and the report says why
(``recloop.drift.verdict``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recloop.drift.policy import DecisionRule


@dataclass(frozen=True)
class TableVerdict:
    """Evidently's table-level verdict, as its page states it."""

    table: str
    columns: int  # alarm features Evidently counted
    drifted: int
    share: float
    threshold: float  # the preset's drift_share
    detected: bool  # Evidently's rule: share >= threshold


@dataclass(frozen=True)
class TableColumns:
    """One table's testable columns, split the way the report treats them."""

    table: str
    kinds: dict[str, str]  # column -> "numerical" | "categorical"
    alarm: list[str]
    watch: list[str]
    method: dict[str, str]
    threshold: dict[str, float]

    @property
    def columns(self) -> list[str]:
        return [*self.alarm, *self.watch]


def preset_drift_share(rule: DecisionRule, alarm_columns: int) -> float:
    """``DataDriftPreset(drift_share=...)`` for a table of ``alarm_columns`` alarm features.

    recloop's ``min_share_drifted``, but never below one feature's share (rounded down to
    three decimals so Evidently's page prints 0.333, not 0.3333333333333333).
    """
    one = math.floor(1000 / max(alarm_columns, 1)) / 1000
    return max(rule.min_share_drifted, one)


def evidently_table(
    ref_t: pd.DataFrame,
    cur_t: pd.DataFrame,
    spec: TableColumns,
    rule: DecisionRule,
    with_report: bool,
) -> tuple[Any, dict[str, float], TableVerdict | None]:
    """Evidently's statistic per column with recloop's methods and thresholds.

    With ``with_report`` an Evidently report runs (its snapshot makes the HTML page and
    gives Evidently's table verdict); otherwise Evidently's stat-test functions run
    directly: the same numbers without the plot rendering that costs ~75% of a report's
    time, and no verdict.

    Returns:
        (snapshot or None, {"table.column": score}, Evidently's verdict or None).
    """
    if not with_report:
        return None, _stattest_scores(ref_t, cur_t, spec), None
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    columns = spec.columns
    definition = DataDefinition(
        numerical_columns=[c for c in columns if spec.kinds[c] == "numerical"],
        categorical_columns=[c for c in columns if spec.kinds[c] == "categorical"],
    )
    drift_share = preset_drift_share(rule, len(spec.alarm))
    metrics: list[Any] = []
    if spec.alarm:
        metrics.append(
            DataDriftPreset(
                columns=spec.alarm,
                drift_share=drift_share,
                per_column_method={c: spec.method[c] for c in spec.alarm},
                per_column_threshold={c: spec.threshold[c] for c in spec.alarm},
            )
        )
    metrics += [
        ValueDrift(column=c, method=spec.method[c], threshold=spec.threshold[c]) for c in spec.watch
    ]
    ref_t, cur_t = ref_t[columns].copy(), cur_t[columns].copy()
    for column in definition.categorical_columns or []:  # the same counts, without strings
        ref_t[column], cur_t[column] = _as_categories(ref_t[column], cur_t[column])
    snapshot = Report(metrics).run(
        Dataset.from_pandas(cur_t, data_definition=definition),  # current first
        Dataset.from_pandas(ref_t, data_definition=definition),
    )
    scores: dict[str, float] = {}
    verdict = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            scores[f"{spec.table}.{config['column']}"] = float(metric["value"])
        elif config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
            verdict = TableVerdict(
                table=spec.table,
                columns=len(spec.alarm),
                drifted=int(metric["value"]["count"]),
                share=share,
                threshold=drift_share,
                detected=share >= drift_share,  # Evidently's get_dataset_drift rule
            )
    return snapshot, scores, verdict


def _stattest_scores(
    ref_t: pd.DataFrame, cur_t: pd.DataFrame, spec: TableColumns
) -> dict[str, float]:
    """Evidently's registered stat tests called directly (what ValueDrift computes)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    scores = {}
    for column in spec.columns:
        kind = ColumnType.Numerical if spec.kinds[column] == "numerical" else ColumnType.Categorical
        ref_col, cur_col = ref_t[column].dropna(), cur_t[column].dropna()
        if kind == ColumnType.Categorical:
            ref_col, cur_col = _as_categories(ref_col, cur_col)
        test = get_stattest(ref_col, cur_col, kind, spec.method[column])
        result = test(ref_col, cur_col, kind, spec.threshold[column])
        scores[f"{spec.table}.{column}"] = float(result.drift_score)
    return scores


def _as_categories(ref_col: pd.Series, cur_col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Both columns as one pandas categorical type: the same counts, the same statistic.

    Evidently counts categories with ``unique``/``value_counts``, which on Python strings
    test every value for missing-ness one at a time (seconds per million rows); on codes
    of a shared categorical type the same counts are array operations.
    """
    categories = pd.Index(pd.concat([ref_col, cur_col]).unique())
    dtype = pd.CategoricalDtype(categories)
    return ref_col.astype(dtype), cur_col.astype(dtype)
