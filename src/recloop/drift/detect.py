"""Drift between a reference window and the current window, decided by recloop's policy.

Evidently computes the per-column statistic (a normed Wasserstein distance, a
Jensen-Shannon distance...) with the method and threshold the policy file gives each
feature. recloop then decides from those numbers itself: Evidently's dataset verdict uses its
own share rule and, with default settings, p-value tests that reject everything at 10^5 rows.

Entry point for the continual loop: ``run_drift_check``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from recloop.clock import SECONDS_PER_DAY
from recloop.columns import TIMESTAMP_COL
from recloop.drift.features import (
    FEATURE_KINDS,
    FeatureOptions,
    WindowFeatures,
    item_first_seen,
    window_features,
)
from recloop.drift.policy import DriftPolicy, load_policy
from recloop.drift.report import log_to_mlflow, save_reports
from recloop.errors import UnusableInputError
from recloop.scorer import Scorer
from recloop.serving import load_recommender
from recloop.settings import Settings

Window = tuple[int, int]


@dataclass
class FeatureStat:
    """One feature's comparison: the statistic, the rule and a readable ref → cur summary."""

    feature: str
    kind: str
    method: str
    threshold: float
    score: float | None
    drifted: bool
    alarm: bool
    reference_rows: int
    current_rows: int
    reference_summary: str = ""
    current_summary: str = ""
    skipped: str | None = None  # why it was not tested (too few rows, all missing)


@dataclass
class DriftResult:
    """The outcome of one drift check (see ``to_dict`` for the JSON form)."""

    drift_detected: bool
    drifted_features: list[str]
    share_drifted: float
    feature_stats: list[FeatureStat]
    reference_window: Window
    current_window: Window
    reference_summary: dict[str, float] = field(default_factory=dict)
    current_summary: dict[str, float] = field(default_factory=dict)
    evidently_share: dict[str, float] = field(default_factory=dict)
    champion_version: str | None = None
    seconds: float = 0.0
    report_path: Path | None = None
    report_files: list[Path] = field(default_factory=list)
    mlflow_run_id: str | None = None
    mlflow_experiment_id: str | None = None  # with the run id, the report's link in alerts

    @property
    def relevance(self) -> tuple[float | None, float | None]:
        """Champion hit rate@k on the reference and on the current window (None: no model)."""
        key = "relevance_hit_rate"
        return self.reference_summary.get(key), self.current_summary.get(key)

    def stat(self, feature: str) -> FeatureStat:
        return next(s for s in self.feature_stats if s.feature == feature)

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift_detected": self.drift_detected,
            "drifted_features": list(self.drifted_features),
            "share_drifted": self.share_drifted,
            "report_path": str(self.report_path) if self.report_path else None,
            "reference_window": list(self.reference_window),
            "current_window": list(self.current_window),
            "champion_version": self.champion_version,
            "reference_summary": self.reference_summary,
            "current_summary": self.current_summary,
            "evidently_share": self.evidently_share,
            "seconds": round(self.seconds, 3),
            "mlflow_run_id": self.mlflow_run_id,
            "mlflow_experiment_id": self.mlflow_experiment_id,
            "features": [asdict(s) for s in self.feature_stats],
        }


# Long: one recipe read top to bottom (features, Evidently, policy, relevance, report);
# its steps are each a call already.
def run_drift_check(
    settings: Settings,
    reference_events: pd.DataFrame,
    current_events: pd.DataFrame,
    items: pd.DataFrame | None,
    *,
    champion: Any | None = None,
    scorer: Scorer | None = None,
    reference_window: Window | None = None,
    current_window: Window | None = None,
    save_report: bool = True,
) -> DriftResult:
    """Compare the current window with the reference window and decide whether it drifted.

    Args:
        settings: recloop settings (``drift`` section, ``reports_dir``).
        reference_events: canonical events the champion learned from (or earlier events).
        current_events: canonical events of the window to check.
        items: canonical catalog (categories, ``first_seen``).
        champion: the champion's ``ModelVersionInfo``; when given without ``scorer``, its
            model is loaded to compute the model-signal features.
        scorer: an object with ``item_ids`` and ``score(histories)`` (the champion itself).
        reference_window: ``(start, end)`` Unix seconds, half-open; default: the events' span.
        current_window: same for the current window; its length is the chunk length.
        save_report: write Evidently HTML/JSON to ``settings.reports_dir`` (and MLflow when
            ``settings.drift.log_to_mlflow``).

    Returns:
        DriftResult: decision, drifted features, per-feature statistics, report location.

    Raises:
        UnusableInputError: a window has no events.
    """
    started = time.perf_counter()
    if current_events.empty:
        raise UnusableInputError("the current window has no events; nothing to check")
    if reference_events.empty:
        raise UnusableInputError("the reference window has no events; nothing to compare with")
    cfg = settings.drift
    policy = load_policy(cfg.policy_file)
    current_window = current_window or _default_current(current_events, cfg.current_window_days)
    reference_window = reference_window or _span(reference_events)
    if scorer is None and champion is not None:
        scorer = _load_scorer(champion)
    options = FeatureOptions(
        chunk_seconds=max(int(current_window[1] - current_window[0]), 1),
        k=settings.eval.k,
        max_model_users=cfg.max_model_users,
        seed=cfg.seed,
    )
    first_seen = item_first_seen(
        pd.concat([reference_events, current_events]), items, options.chunk_seconds
    )
    ref = window_features(reference_events, items, reference_window[1], first_seen, options, scorer)
    cur = window_features(current_events, items, current_window[1], first_seen, options, scorer)
    stats, snapshots, evidently_share = compare_windows(
        ref, cur, policy, cfg.max_rows, cfg.seed, with_report=save_report
    )
    drifted, share, detected = decide(stats, policy)
    result = DriftResult(
        drift_detected=detected,
        drifted_features=drifted,
        share_drifted=share,
        feature_stats=stats,
        reference_window=(int(reference_window[0]), int(reference_window[1])),
        current_window=(int(current_window[0]), int(current_window[1])),
        reference_summary=ref.summary,
        current_summary=cur.summary,
        evidently_share=evidently_share,
        champion_version=getattr(champion, "version", None),
    )
    result.seconds = time.perf_counter() - started
    if save_report:
        save_reports(result, snapshots, settings.reports_dir)
        if cfg.log_to_mlflow:
            log_to_mlflow(settings, result)
    return result


def decide(stats: list[FeatureStat], policy: DriftPolicy) -> tuple[list[str], float, bool]:
    """recloop's dataset-level rule: enough alarm features drifted, by count and share."""
    tested = [s for s in stats if s.alarm and s.skipped is None]
    drifted = [s.feature for s in tested if s.drifted]
    share = len(drifted) / len(tested) if tested else 0.0
    rule = policy.decision
    detected = len(drifted) >= rule.min_drifted_features and share >= rule.min_share_drifted
    return drifted, share, detected


def compare_windows(
    ref: WindowFeatures,
    cur: WindowFeatures,
    policy: DriftPolicy,
    max_rows: int,
    seed: int,
    *,
    with_report: bool = True,
) -> tuple[list[FeatureStat], dict[str, Any], dict[str, float]]:
    """Run Evidently on every table both windows have; return stats, snapshots, Evidently shares.

    ``with_report`` runs Evidently's DataDriftPreset (per-column plots for the HTML report,
    and Evidently's own drifted share for comparison); without it only the ``ValueDrift``
    metrics run, which give the same statistics about 10x faster (no plots).
    """
    stats: list[FeatureStat] = []
    snapshots: dict[str, Any] = {}
    evidently_share: dict[str, float] = {}
    for table, kinds in FEATURE_KINDS.items():
        if table not in ref.tables or table not in cur.tables:
            continue
        ref_t = _sample(ref.tables[table], max_rows, seed)
        cur_t = _sample(cur.tables[table], max_rows, seed)
        table_stats, testable = _prepare_stats(table, kinds, ref_t, cur_t, policy)
        if testable:
            snapshot, scores, share = _evidently_table(
                ref_t, cur_t, kinds, testable, table_stats, with_report
            )
            snapshots[table] = snapshot
            evidently_share[table] = share
            for stat in table_stats:
                if stat.feature in scores:
                    stat.score = scores[stat.feature]
                    stat.drifted = policy.rule_for(stat.feature, stat.kind).drifted(stat.score)
        stats.extend(table_stats)
    return stats, snapshots, evidently_share


def _prepare_stats(
    table: str,
    kinds: dict[str, str],
    ref_t: pd.DataFrame,
    cur_t: pd.DataFrame,
    policy: DriftPolicy,
) -> tuple[list[FeatureStat], list[str]]:
    """One FeatureStat per column (score filled later) and the columns Evidently can test."""
    stats, testable = [], []
    for column, kind in kinds.items():
        name = f"{table}.{column}"
        rule = policy.rule_for(name, kind)
        ref_col, cur_col = ref_t[column].dropna(), cur_t[column].dropna()
        skipped = None
        if min(len(ref_col), len(cur_col)) < policy.min_rows:
            skipped = (
                f"too few rows ({len(ref_col)} reference, {len(cur_col)} current; "
                f"need {policy.min_rows})"
            )
        ref_s, cur_s = _describe(ref_col, cur_col, kind)
        stats.append(
            FeatureStat(
                feature=name,
                kind=kind,
                method=rule.method,
                threshold=rule.threshold,
                score=None,
                drifted=False,
                alarm=rule.alarm,
                reference_rows=len(ref_col),
                current_rows=len(cur_col),
                reference_summary=ref_s,
                current_summary=cur_s,
                skipped=skipped,
            )
        )
        if skipped is None:
            testable.append(column)
    return stats, testable


def _evidently_table(
    ref_t: pd.DataFrame,
    cur_t: pd.DataFrame,
    kinds: dict[str, str],
    columns: list[str],
    stats: list[FeatureStat],
    with_report: bool,
) -> tuple[Any, dict[str, float], float]:
    """Evidently's statistic per column, with recloop's per-column methods and thresholds.

    With ``with_report`` a DataDriftPreset report runs (its snapshot makes the HTML);
    otherwise Evidently's stat-test functions run directly: the same numbers without the
    plot rendering that costs ~75% of a report's time.
    """
    table = stats[0].feature.split(".")[0]
    by_col = {s.feature.split(".", 1)[1]: s for s in stats}
    if not with_report:
        return None, _stattest_scores(ref_t, cur_t, kinds, columns, by_col, table), float("nan")
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == "numerical"],
        categorical_columns=[c for c in columns if kinds[c] == "categorical"],
    )
    preset = DataDriftPreset(
        columns=columns,
        per_column_method={c: by_col[c].method for c in columns},
        per_column_threshold={c: by_col[c].threshold for c in columns},
    )
    snapshot = Report([preset]).run(
        Dataset.from_pandas(cur_t[columns], data_definition=definition),  # current first
        Dataset.from_pandas(ref_t[columns], data_definition=definition),
    )
    scores: dict[str, float] = {}
    share = float("nan")
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            scores[f"{table}.{config['column']}"] = float(metric["value"])
        elif config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    return snapshot, scores, share


def _stattest_scores(
    ref_t: pd.DataFrame,
    cur_t: pd.DataFrame,
    kinds: dict[str, str],
    columns: list[str],
    by_col: dict[str, FeatureStat],
    table: str,
) -> dict[str, float]:
    """Evidently's registered stat tests called directly (what ValueDrift computes)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    scores = {}
    for column in columns:
        kind = ColumnType.Numerical if kinds[column] == "numerical" else ColumnType.Categorical
        ref_col, cur_col = ref_t[column].dropna(), cur_t[column].dropna()
        test = get_stattest(ref_col, cur_col, kind, by_col[column].method)
        result = test(ref_col, cur_col, kind, by_col[column].threshold)
        scores[f"{table}.{column}"] = float(result.drift_score)
    return scores


def _describe(ref_col: pd.Series, cur_col: pd.Series, kind: str) -> tuple[str, str]:
    """Readable 'by how much': means for numbers, the most changed category's shares."""
    if ref_col.empty or cur_col.empty:
        return "", ""
    if kind == "numerical":
        return f"mean {ref_col.mean():.3g}", f"mean {cur_col.mean():.3g}"
    ref_share = ref_col.value_counts(normalize=True)
    cur_share = cur_col.value_counts(normalize=True)
    diff = cur_share.sub(ref_share, fill_value=0.0)
    top = diff.abs().idxmax()
    return f"{top}: {ref_share.get(top, 0.0):.1%}", f"{top}: {cur_share.get(top, 0.0):.1%}"


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """A uniform row sample when a table is larger than ``max_rows`` (speed, not accuracy)."""
    return frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame


def _span(events: pd.DataFrame) -> Window:
    ts = events[TIMESTAMP_COL]
    return int(ts.min()), int(ts.max()) + 1


def _default_current(events: pd.DataFrame, days: int) -> Window:
    """The last ``days`` before the newest event (exclusive end one second after it)."""
    end = int(events[TIMESTAMP_COL].max()) + 1
    return end - days * SECONDS_PER_DAY, end


def _load_scorer(champion: Any) -> Scorer:
    """The champion's ``Recommender``."""
    return load_recommender(champion.model_uri)
