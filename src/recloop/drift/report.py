"""Drift reports, stored once: recloop's page, one Evidently page, the JSON and the summary.

A check's report is four files:
``index.html`` (recloop's verdict, the statistics, the link to Evidently's page),
``evidently.html`` (every table's Evidently report on one self-contained page,
``recloop.drift.evidently_page``), ``drift.json`` (``DriftResult.to_dict()``) and
``summary.md`` (the short text that also goes to the Prefect artifact).

Where they go (``store_report``):

- ``drift.log_to_mlflow`` on (the default): the artifacts ``drift/`` of the check's run in
  the ``registry.drift_experiment_name`` experiment, and nowhere else; the workspace keeps
  only ``<reports_dir>/drift-<UTC stamp>/drift.json`` (a few kB, with the run id), the
  record ``recloop status`` reads;
- off: ``<reports_dir>/drift-<UTC stamp>/``.

``result.report_path`` is the stored ``index.html`` when it is a local file (the reports
folder, or MLflow's artifact folder for a workspace store); None when it lives only on a
remote artifact store, where ``result.mlflow_run_id`` finds it.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from recloop.drift.evidently_page import evidently_page
from recloop.drift.verdict import (
    evidently_line,
    not_tested,
    untested_line,
    verdict_line,
    verdict_words,
)
from recloop.pages import render
from recloop.settings import Settings
from recloop.tracking import configure_mlflow

MAX_ROWS_IN_SUMMARY = 10
ARTIFACT_DIR = "drift"  # the report's folder among the MLflow run's artifacts
EVIDENTLY_PAGE = "evidently.html"
DETECTED_TAG = "recloop.drift.detected"


def store_report(settings: Settings, result: Any, snapshots: dict[str, Any]) -> Path | None:
    """Store the check's report once (see the module docstring) and point ``result`` at it.

    Args:
        settings: ``reports_dir``, ``drift.log_to_mlflow``, the MLflow store.
        result: the ``DriftResult``; its ``report_path``, ``report_files`` and MLflow run
            fields are set here.
        snapshots: Evidently snapshots by table name (from ``compare_windows``).

    Returns:
        Path | None: the stored ``index.html`` when it is a local file.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    local = Path(settings.reports_dir) / f"drift-{stamp}"
    if not settings.drift.log_to_mlflow:
        result.report_path = local / "index.html"
        result.report_files = write_report(result, snapshots, local)
        return result.report_path
    import mlflow

    with drift_check_run(settings) as run:
        result.mlflow_run_id = run.info.run_id
        result.mlflow_experiment_id = run.info.experiment_id
        stored = artifact_local_path(mlflow.get_artifact_uri(ARTIFACT_DIR))
        result.report_path = stored / "index.html" if stored else None
        with tempfile.TemporaryDirectory(prefix="recloop-drift-") as tmp:
            names = [p.name for p in write_report(result, snapshots, Path(tmp))]
            mlflow.log_artifacts(tmp, artifact_path=ARTIFACT_DIR)
        result.report_files = [stored / name for name in names] if stored else []
        _log_scores(result)
    local.mkdir(parents=True, exist_ok=True)
    (local / "drift.json").write_text(_result_json(result))
    return result.report_path


def write_report(result: Any, snapshots: dict[str, Any], folder: Path) -> list[Path]:
    """Write the four report files into ``folder``; return their paths (index first)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "index.html", folder / "drift.json", folder / "summary.md"]
    if snapshots:
        (folder / EVIDENTLY_PAGE).write_text(evidently_page(result, snapshots), encoding="utf-8")
        files.append(folder / EVIDENTLY_PAGE)
    (folder / "summary.md").write_text(summary_markdown(result))
    (folder / "drift.json").write_text(_result_json(result))
    (folder / "index.html").write_text(_index_html(result, bool(snapshots)))
    return files


@contextmanager
def drift_check_run(settings: Settings) -> Iterator[Any]:
    """The MLflow run the report goes to: the active one (the loop's drift run, or the one
    ``recloop drift`` opens), else a new ``drift-check`` run in the drift experiment."""
    import mlflow

    active = mlflow.active_run()
    if active is not None:
        yield active
        return
    experiment_id = configure_mlflow(settings, settings.registry.drift_experiment_name)
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name="drift-check") as run:
            yield run
    finally:
        configure_mlflow(settings)  # later runs go to the training experiment again


def summary_markdown(result: Any, decision: Any | None = None) -> str:
    """A short Markdown summary: verdict, windows, the drifted features and by how much."""
    lines = [f"## recloop drift check: {verdict_words(result.drift_detected)}", ""]
    for paragraph in (verdict_line(result), evidently_line(result)):
        if paragraph:
            lines += [paragraph, ""]
    lines += [
        f"- reference window: {_window(result.reference_window)} "
        f"({int(result.reference_summary.get('events', 0))} events)",
        f"- current window: {_window(result.current_window)} "
        f"({int(result.current_summary.get('events', 0))} events)",
    ]
    ref_rel, cur_rel = result.relevance
    if ref_rel is not None and cur_rel is not None:
        lines.append(f"- champion hit rate: reference {ref_rel:.3f}, current {cur_rel:.3f}")
    if decision is not None:
        why = "; ".join(decision.reasons) or "no trigger fired"
        lines.append(f"- retrain: {'yes' if decision.should_retrain else 'no'} ({why})")
    if result.report_path:
        lines.append(f"- report: {result.report_path}")
    elif result.mlflow_run_id:
        lines.append(f"- report: MLflow run {result.mlflow_run_id}, artifacts {ARTIFACT_DIR}/")
    untested = untested_line(result)
    if untested:
        lines.append(f"- {untested}")
    rows = [s for s in result.feature_stats if s.drifted]
    if rows:
        lines += [
            "",
            "| feature | method | score | threshold | reference | current |",
            "|---|---|---|---|---|---|",
        ]
        for s in rows[:MAX_ROWS_IN_SUMMARY]:
            lines.append(
                f"| {s.feature}{'' if s.alarm else ' (watch-only)'} | {s.method} | "
                f"{s.score:.3f} | {s.threshold:g} | "
                f"{s.reference_summary} | {s.current_summary} |"
            )
    return "\n".join(lines) + "\n"


def _log_scores(result: Any) -> None:
    """The verdict as a tag, the share and each feature's score as metrics, on the run."""
    import mlflow

    mlflow.set_tag(DETECTED_TAG, str(result.drift_detected).lower())
    metrics = {
        "drift_share_drifted": result.share_drifted,
        "drift_detected": float(result.drift_detected),
    }
    for s in result.feature_stats:
        if s.score is not None and math.isfinite(s.score):
            metrics[f"drift.{s.feature}"] = s.score
    mlflow.log_metrics(metrics)


def artifact_local_path(uri: str) -> Path | None:
    """A local path for a ``file:`` (or plain path) artifact URI; None for a remote store."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "":
        return Path(uri)
    return None


def _index_html(result: Any, has_evidently: bool) -> str:
    """A small self-contained page: recloop's verdict, the statistics, the link to Evidently
    (``templates/drift_report.html.j2``; feature names and summaries come from the data,
    so the template escapes them)."""

    def drifted(s: Any) -> str:
        return not_tested(s) if s.skipped else "yes" if s.drifted else "no"

    rows = [
        {
            "drifted": s.drifted,
            "cells": [
                s.feature,
                s.method,
                "" if s.score is None else f"{s.score:.4f}",
                f"{s.threshold:g}",
                drifted(s),
                "yes" if s.alarm else "no (watch-only)",
                s.reference_summary,
                s.current_summary,
            ],
        }
        for s in result.feature_stats
    ]
    return render(
        "drift_report.html.j2",
        verdict=verdict_words(result.drift_detected),
        verdict_line=verdict_line(result),
        evidently_line=evidently_line(result) or "",
        evidently_page=EVIDENTLY_PAGE if has_evidently else "",
        reference_window=_window(result.reference_window),
        current_window=_window(result.current_window),
        rows=rows,
    )


def _window(window: tuple[int, int]) -> str:
    start, end = (datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M") for t in window)
    return f"{start}..{end} UTC"


def _result_json(result: Any) -> str:
    return json.dumps(_json_safe(result.to_dict()), indent=2)


def _json_safe(value: Any) -> Any:
    """NaN/inf become null so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
