"""Drift reports: Evidently HTML/JSON per table, recloop's JSON and Markdown, MLflow logging.

One check writes one folder ``<reports_dir>/drift-<UTC stamp>/``:
``index.html`` (recloop's verdict and links), ``<table>.html`` / ``<table>.json`` (Evidently),
``drift.json`` (``DriftResult.to_dict()``) and ``summary.md`` (the short text that also goes
to the Prefect artifact and the alert).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recloop.pages import render
from recloop.settings import Settings
from recloop.tracking import configure_mlflow

MAX_ROWS_IN_SUMMARY = 10


def save_reports(result: Any, snapshots: dict[str, Any], reports_dir: Path) -> Path:
    """Write the report folder and set ``result.report_path`` (its ``index.html``).

    Args:
        result: the ``DriftResult`` to describe.
        snapshots: Evidently snapshots by table name (from ``compare_windows``).
        reports_dir: ``settings.reports_dir``.

    Returns:
        Path: the ``index.html`` written.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = Path(reports_dir) / f"drift-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for table, snapshot in snapshots.items():
        snapshot.save_html(str(folder / f"{table}.html"))
        snapshot.save_json(str(folder / f"{table}.json"))
        files += [folder / f"{table}.html", folder / f"{table}.json"]
    index = folder / "index.html"
    result.report_path = index
    result.report_files = [index, folder / "drift.json", folder / "summary.md", *files]
    (folder / "summary.md").write_text(summary_markdown(result))
    (folder / "drift.json").write_text(json.dumps(_json_safe(result.to_dict()), indent=2))
    index.write_text(_index_html(result, sorted(snapshots)))
    return index


def summary_markdown(result: Any, decision: Any | None = None) -> str:
    """A short Markdown summary: verdict, windows, the drifted features and by how much."""
    verdict = "**DRIFT DETECTED**" if result.drift_detected else "no drift"
    lines = [
        f"## recloop drift check: {verdict}",
        "",
        f"- reference window: {_window(result.reference_window)} "
        f"({int(result.reference_summary.get('events', 0))} events)",
        f"- current window: {_window(result.current_window)} "
        f"({int(result.current_summary.get('events', 0))} events)",
        f"- drifted features: {len(result.drifted_features)} "
        f"(share of alarm features {result.share_drifted:.0%})",
    ]
    ref_rel, cur_rel = result.relevance
    if ref_rel is not None and cur_rel is not None:
        lines.append(f"- champion hit rate: reference {ref_rel:.3f}, current {cur_rel:.3f}")
    if decision is not None:
        why = "; ".join(decision.reasons) or "no trigger fired"
        lines.append(f"- retrain: {'yes' if decision.should_retrain else 'no'} ({why})")
    if result.report_path:
        lines.append(f"- report: {result.report_path}")
    rows = [s for s in result.feature_stats if s.drifted] or []
    if rows:
        lines += [
            "",
            "| feature | method | score | threshold | reference | current |",
            "|---|---|---|---|---|---|",
        ]
        for s in rows[:MAX_ROWS_IN_SUMMARY]:
            lines.append(
                f"| {s.feature} | {s.method} | {s.score:.3f} | {s.threshold:g} | "
                f"{s.reference_summary} | {s.current_summary} |"
            )
    return "\n".join(lines) + "\n"


def log_to_mlflow(settings: Settings, result: Any) -> str | None:
    """Log the report folder and the per-feature scores to MLflow.

    Logs into the active run when there is one (the continual loop's), else into a new run
    named ``drift-check``. Returns the run id.
    """
    import mlflow

    configure_mlflow(settings)
    active = mlflow.active_run()
    context = (
        mlflow.start_run(run_name="drift-check", nested=False) if active is None else _Noop(active)
    )
    with context as run:
        mlflow.set_tag("recloop.drift.detected", str(result.drift_detected).lower())
        metrics = {
            "drift_share_drifted": result.share_drifted,
            "drift_detected": float(result.drift_detected),
        }
        for s in result.feature_stats:
            if s.score is not None and math.isfinite(s.score):
                metrics[f"drift.{s.feature}"] = s.score
        mlflow.log_metrics(metrics)
        if result.report_path:
            mlflow.log_artifacts(str(Path(result.report_path).parent), artifact_path="drift")
        result.mlflow_run_id = run.info.run_id
        result.mlflow_experiment_id = run.info.experiment_id
    return result.mlflow_run_id


class _Noop:
    """Context manager that yields an already active run and leaves it open."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def __enter__(self) -> Any:
        return self.run

    def __exit__(self, *exc: object) -> None:
        return None


def _index_html(result: Any, tables: list[str]) -> str:
    """A small self-contained page: recloop's verdict, the statistics, links to Evidently
    (``templates/drift_report.html.j2``; feature names and summaries come from the data,
    so the template escapes them)."""

    rows = [
        {
            "drifted": s.drifted,
            "cells": [
                s.feature,
                s.method,
                "" if s.score is None else f"{s.score:.4f}",
                f"{s.threshold:g}",
                "yes" if s.drifted else "no",
                "yes" if s.alarm else "no",
                s.reference_summary,
                s.current_summary,
                s.skipped or "",
            ],
        }
        for s in result.feature_stats
    ]
    return render(
        "drift_report.html.j2",
        verdict="DRIFT DETECTED" if result.drift_detected else "no drift",
        reference_window=_window(result.reference_window),
        current_window=_window(result.current_window),
        share_drifted=f"{result.share_drifted:.1%}",
        tables=tables,
        rows=rows,
    )


def _window(window: tuple[int, int]) -> str:
    start, end = (datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M") for t in window)
    return f"{start}..{end} UTC"


def _json_safe(value: Any) -> Any:
    """NaN/inf become null so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
