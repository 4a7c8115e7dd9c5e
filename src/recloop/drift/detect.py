"""Drift between a reference window and the current window, decided by recloop's policy.

Evidently computes the per-column statistic (a normed Wasserstein distance, a
Jensen-Shannon distance...) with the method and threshold the policy file gives each
feature. recloop then decides from those numbers itself (``decide``), over all tables at
once; Evidently's page judges each table alone, configured to agree where it can
(``recloop.drift.evidently_stats``), and the report states both (``recloop.drift.verdict``).

Entry point for the continual loop: ``run_drift_check``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from recloop.clock import SECONDS_PER_DAY
from recloop.columns import ITEM_COL, TIMESTAMP_COL
from recloop.drift.evidently_stats import TableColumns, TableVerdict, evidently_table
from recloop.drift.features import (
    FEATURE_KINDS,
    FeatureOptions,
    WindowFeatures,
    as_plain_strings,
    item_first_seen,
    window_features,
)
from recloop.drift.policy import DriftPolicy, load_policy
from recloop.drift.report import store_report
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
    skipped: str | None = None  # why it was not tested: "too few rows: ..."


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
    # Evidently's own verdict per table (what its page says); empty without a report.
    evidently_tables: dict[str, TableVerdict] = field(default_factory=dict)
    rule: dict[str, float] = field(default_factory=dict)  # the policy's DecisionRule
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
            "evidently_tables": {t: asdict(v) for t, v in self.evidently_tables.items()},
            "rule": self.rule,
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
        save_report: store the report once: in the drift check's MLflow run when
            ``settings.drift.log_to_mlflow``, else in ``settings.reports_dir``
            (``recloop.drift.report.store_report``).

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
    # Only the two columns it reads: concatenating whole frames spent seconds per million
    # rows deciding how to align an all-null column (scenario) value by value.
    known = [w[[ITEM_COL, TIMESTAMP_COL]] for w in (reference_events, current_events)]
    first_seen = item_first_seen(pd.concat(known), items, options.chunk_seconds)
    ref = window_features(reference_events, items, reference_window[1], first_seen, options, scorer)
    cur = window_features(current_events, items, current_window[1], first_seen, options, scorer)
    stats, snapshots, verdicts = compare_windows(
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
        evidently_share={t: v.share for t, v in verdicts.items()},
        evidently_tables=verdicts,
        rule=policy.decision.model_dump(),
        champion_version=getattr(champion, "version", None),
    )
    result.seconds = time.perf_counter() - started
    if save_report:
        store_report(settings, result, snapshots)
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
) -> tuple[list[FeatureStat], dict[str, Any], dict[str, TableVerdict]]:
    """Run Evidently on every table both windows have: stats, snapshots, Evidently's verdicts.

    ``with_report`` runs Evidently's report (per-column plots for the HTML page, and
    Evidently's own table verdict); without it the stat tests run directly, which give the
    same statistics about 10x faster (no plots, no verdicts).
    """
    stats: list[FeatureStat] = []
    snapshots: dict[str, Any] = {}
    verdicts: dict[str, TableVerdict] = {}
    for table, kinds in FEATURE_KINDS.items():
        if table not in ref.tables or table not in cur.tables:
            continue
        ref_t = as_plain_strings(_sample(ref.tables[table], max_rows, seed))
        cur_t = as_plain_strings(_sample(cur.tables[table], max_rows, seed))
        table_stats = _prepare_stats(table, kinds, ref_t, cur_t, policy)
        spec = _testable(table, kinds, table_stats)
        if spec.columns:
            snapshot, scores, verdict = evidently_table(
                ref_t, cur_t, spec, policy.decision, with_report
            )
            if snapshot is not None:
                snapshots[table] = snapshot
            if verdict is not None:
                verdicts[table] = verdict
            for stat in table_stats:
                if stat.feature in scores:
                    stat.score = scores[stat.feature]
                    stat.drifted = policy.rule_for(stat.feature, stat.kind).drifted(stat.score)
        stats.extend(table_stats)
    return stats, snapshots, verdicts


def _prepare_stats(
    table: str,
    kinds: dict[str, str],
    ref_t: pd.DataFrame,
    cur_t: pd.DataFrame,
    policy: DriftPolicy,
) -> list[FeatureStat]:
    """One FeatureStat per column (score filled later; ``skipped`` when too few rows)."""
    stats = []
    for column, kind in kinds.items():
        name = f"{table}.{column}"
        rule = policy.rule_for(name, kind)
        ref_col, cur_col = ref_t[column].dropna(), cur_t[column].dropna()
        skipped = None
        if min(len(ref_col), len(cur_col)) < policy.min_rows:
            skipped = (
                f"too few rows: {len(ref_col)} reference, {len(cur_col)} current; "
                f"need {policy.min_rows}"
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
    return stats


def _testable(table: str, kinds: dict[str, str], stats: list[FeatureStat]) -> TableColumns:
    """The columns Evidently tests: alarm ones (counted) and watch-only ones (plotted)."""
    tested = {s.feature.split(".", 1)[1]: s for s in stats if s.skipped is None}
    return TableColumns(
        table=table,
        kinds=kinds,
        alarm=[c for c, s in tested.items() if s.alarm],
        watch=[c for c, s in tested.items() if not s.alarm],
        method={c: s.method for c, s in tested.items()},
        threshold={c: s.threshold for c, s in tested.items()},
    )


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
