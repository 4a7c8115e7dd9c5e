"""The text of a drift alert: right (its count is its list) and actionable (what, how much,
which windows, which champion, what happens next, where the report is).

The verdict is stated in the words of recloop's report page and summary
(``recloop.drift.verdict.verdict_line``: the count and recloop's rule). One line per drifted
feature says the test, the statistic against its threshold and the change in words
(``mean 3.53 -> 4.12 (higher)``). The headline counts the alarm features that drifted, the
ones that decided the verdict; the list is exactly those, cut at ``MAX_FEATURES_IN_ALERT``
with ``+N more``. Watch-only features that moved are named on a line of their own and never
counted; features with too few rows are named as "not tested", with the row counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recloop.drift.detect import DriftResult, FeatureStat
from recloop.drift.policy import PVALUE_METHODS
from recloop.drift.triggers import TriggerDecision
from recloop.drift.verdict import DETECTED, untested_line, verdict_line
from recloop.notify.links import mlflow_run_link
from recloop.settings import Settings

MAX_FEATURES_IN_ALERT = 8
METHOD_WORDS = {
    "wasserstein": "Wasserstein distance (normed by the reference's spread)",
    "jensenshannon": "Jensen-Shannon distance",
    "psi": "population stability index",
    "hellinger": "Hellinger distance",
    "kl_div": "KL divergence",
    "ed": "energy distance",
    "ks": "Kolmogorov-Smirnov p-value",
    "chisquare": "chi-square p-value",
    "z": "Z-test p-value",
    "t_test": "t-test p-value",
    "mannw": "Mann-Whitney p-value",
    "anderson": "Anderson-Darling p-value",
    "cramer_von_mises": "Cramer-von Mises p-value",
    "fisher_exact": "Fisher exact p-value",
    "g_test": "G-test p-value",
    "epps_singleton": "Epps-Singleton p-value",
    "empirical_mmd": "MMD p-value",
}


@dataclass(frozen=True)
class NextStep:
    """What the loop does about the drift and when: a sentence, and a link when known."""

    text: str
    url: str | None = None

    def line(self) -> str:
        return f"Next: {self.text}" + (f" {self.url}" if self.url else "")


def format_drift_alert(
    result: DriftResult,
    decision: TriggerDecision | None = None,
    *,
    settings: Settings | None = None,
    next_step: NextStep | None = None,
    why: str = "",
) -> tuple[str, str]:
    """Title and body of a drift alert.

    Args:
        result: the drift check.
        decision: the retrain decision taken on it (its reasons are shown).
        settings: for the model name and the report link (``notify.mlflow_ui_url``).
        next_step: what the loop will do (the monitor fills in the triggered run).
        why: why this message pages now ("new drift episode", "new feature(s): ..."),
            appended to the title.
    """
    drifted = [s for s in result.feature_stats if s.drifted and s.alarm and s.skipped is None]
    names = {s.feature for s in drifted}
    drifted += [  # a name the stats lack (a hand-built result) still counts and is listed
        _bare(name) for name in result.drifted_features if name not in names
    ]
    n = len(drifted)
    title = f"recloop {DETECTED}: {n} feature{'s' if n != 1 else ''} drifted"
    if why:
        title += f" ({why})"
    model = settings.registry.model_name if settings is not None else "the model"
    champion = (
        f"champion version {result.champion_version}"
        if result.champion_version
        else "no champion yet"
    )
    lines = [
        verdict_line(result),
        f"Model: {model}, {champion}.",
        f"Windows: reference {window_dates(result.reference_window)}, "
        f"current {window_dates(result.current_window)} (UTC).",
    ]
    lines += [f"- {feature_line(s)}" for s in drifted[:MAX_FEATURES_IN_ALERT]]
    if n > MAX_FEATURES_IN_ALERT:
        lines.append(f"+{n - MAX_FEATURES_IN_ALERT} more (see the report)")
    watch = [s.feature for s in result.feature_stats if s.drifted and not s.alarm]
    if watch:
        lines.append(f"Also moved, watch-only (not counted): {', '.join(watch)}")
    untested = untested_line(result)
    if untested:
        lines.append(untested)
    if decision is not None:
        verdict = "retrain" if decision.should_retrain else "no retrain"
        reasons = "; ".join(decision.reasons)
        lines.append(f"Decision: {verdict}" + (f" ({reasons})" if reasons else ""))
    if next_step is not None:
        lines.append(next_step.line())
    lines.append(report_line(result, settings))
    return title, "\n".join(lines)


def format_resolved(
    settings: Settings, result: DriftResult, episode: dict[str, Any]
) -> tuple[str, str]:
    """Title and body of the one "resolved" message that closes an episode."""
    features = ", ".join(episode.get("features") or []) or "(none recorded)"
    started = _date(int(episode.get("started") or 0))
    title = f"recloop drift resolved: {settings.registry.model_name}"
    body = "\n".join(
        [
            f"No alarm feature drifts any more in the current window "
            f"{window_dates(result.current_window)} (UTC).",
            verdict_line(result),
            f"The episode began {started}; it had drifted: {features}.",
            f"Champion version: {result.champion_version or '(none)'}.",
            report_line(result, settings),
        ]
    )
    return title, body


def feature_line(stat: FeatureStat) -> str:
    """``name: <test> <score> vs threshold <t> (drifts ...); <change in words>``."""
    words = METHOD_WORDS.get(stat.method, stat.method)
    if stat.score is None:
        return f"{stat.feature}: {words}, no statistic"
    if stat.method in PVALUE_METHODS:
        rule = f"p = {stat.score:.3g} < threshold {stat.threshold:g}"
    else:
        rule = f"{stat.score:.3f} >= threshold {stat.threshold:g}"
    change = change_words(stat)
    return f"{stat.feature}: {words} {rule}" + (f"; {change}" if change else "")


def change_words(stat: FeatureStat) -> str:
    """The change in words from the stats' summaries: ``mean 3.53 -> 4.12 (higher)``."""
    ref, cur = stat.reference_summary, stat.current_summary
    if not ref and not cur:
        return ""
    if ref.startswith("mean ") and cur.startswith("mean "):
        try:
            before, after = float(ref[5:]), float(cur[5:])
        except ValueError:
            return f"{ref} -> {cur}"
        direction = "higher" if after > before else "lower" if after < before else "unchanged"
        return f"mean {before:.3g} -> {after:.3g} ({direction})"
    ref_label, _, ref_share = ref.rpartition(": ")
    cur_label, _, cur_share = cur.rpartition(": ")
    if ref_label and ref_label == cur_label:
        return f"share of {ref_label!r} {ref_share} -> {cur_share}"
    return f"{ref} -> {cur}"


def report_line(result: DriftResult, settings: Settings | None) -> str:
    """Where the full report is: the MLflow run (a link when a UI base is known)."""
    run_id = result.mlflow_run_id
    if run_id:
        link = mlflow_run_link(settings, result.mlflow_experiment_id, run_id) if settings else None
        return (
            f"Report: {link}"
            if link
            else (f"Report: MLflow run {run_id} (set RECLOOP_NOTIFY__MLFLOW_UI_URL for a link)")
        )
    if result.report_path:
        return (
            f"Report: not logged to MLflow (drift.log_to_mlflow is off); on the worker as "
            f"reports/{result.report_path.parent.name}/"
        )
    return "Report: (not saved)"


def window_dates(window: tuple[int, int]) -> str:
    """``1997-09-20 to 1997-11-28``: the first and the last day of a half-open window."""
    start, end = window
    return f"{_date(start)} to {_date(max(start, end - 1))}"


def _date(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def _bare(name: str) -> FeatureStat:
    return FeatureStat(name, "", "", 0.0, None, True, True, 0, 0)
