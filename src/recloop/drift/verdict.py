"""The words of a drift verdict, in one place: recloop's page, the Markdown summary, the alert
and the note on Evidently's page all state it with these functions, so they cannot disagree.

- :func:`verdict_words`: ``drift detected`` / ``no drift`` (headings and titles);
- :func:`verdict_line`: the verdict with its count and recloop's rule;
- :func:`evidently_line`: what Evidently's table-level verdicts say and, when they differ
  from recloop's, why (Evidently judges each table alone; recloop all alarm features);
- :func:`untested_line` / :func:`not_tested`: features with too few rows are "not tested",
  never "drifted: no".
"""

from __future__ import annotations

from typing import Any

from recloop.drift.policy import DecisionRule

DETECTED, NOT_DETECTED = "drift detected", "no drift"


def verdict_words(detected: bool) -> str:
    """``drift detected`` or ``no drift``."""
    return DETECTED if detected else NOT_DETECTED


def rule_words(rule: DecisionRule) -> str:
    """recloop's dataset-level rule in words."""
    n = rule.min_drifted_features
    text = f"drift when at least {n} alarm feature{'s' if n != 1 else ''} drifted"
    if rule.min_share_drifted > 0:
        text += f" and they are at least {rule.min_share_drifted:.0%} of the alarm features tested"
    return text


def verdict_line(result: Any) -> str:
    """``Drift detected: 2 of 14 alarm features drifted (14%); recloop's rule: ...``."""
    tested = sum(1 for s in result.feature_stats if s.alarm and s.skipped is None)
    n = len(result.drifted_features)
    words = verdict_words(result.drift_detected)
    return (
        f"{words[0].upper()}{words[1:]}: {n} of {tested or n} alarm features drifted "
        f"({result.share_drifted:.0%}); recloop's rule: {rule_words(_rule(result))}."
    )


def evidently_line(result: Any) -> str | None:
    """Evidently's table verdicts against recloop's (None when no Evidently page was made)."""
    tables = getattr(result, "evidently_tables", None) or {}
    if not tables:
        return None
    per_table = ", ".join(
        f"{t} {'detected' if v.detected else 'NOT detected'} ({v.drifted} of {v.columns}, "
        f"threshold {v.threshold:g})"
        for t, v in tables.items()
    )
    detected = [t for t, v in tables.items() if v.detected]
    head = (
        "Evidently's page judges each table alone, counting its alarm features only "
        f"(watch-only ones are plotted, not counted): {per_table}."
    )
    if bool(detected) == result.drift_detected:
        agree = "in at least one table" if detected else "in no table"
        return f"{head} It agrees with recloop: Evidently detects drift {agree}."
    found = f"in {', '.join(detected)}" if detected else "in no table"
    return (
        f"{head} It differs from recloop's verdict ({verdict_words(result.drift_detected)}): "
        f"Evidently's table-level verdict counts the drifted alarm features of one table "
        f"against its share threshold (drift {found}); recloop's rule counts all alarm "
        f"features together: {rule_words(_rule(result))}."
    )


def not_tested(stat: Any) -> str:
    """``not tested (too few rows: 12 reference, 3 current; need 30)``."""
    return f"not tested ({stat.skipped})"


def untested_line(result: Any) -> str | None:
    """``Not tested (too few rows: 1462 reference, 25 current; need 30): users.activity, ...``
    (features sharing a reason share a clause; None when every feature was tested)."""
    by_reason: dict[str, list[str]] = {}
    for s in result.feature_stats:
        if s.skipped:
            by_reason.setdefault(s.skipped, []).append(s.feature)
    if not by_reason:
        return None
    clauses = [f"not tested ({why}): {', '.join(names)}" for why, names in by_reason.items()]
    text = "; ".join(clauses) + "."
    return text[0].upper() + text[1:]


def _rule(result: Any) -> DecisionRule:
    return DecisionRule(**(getattr(result, "rule", None) or {}))
