"""Log an evaluation to an MLflow run: metrics, slice tables, curves and plots.

Kept apart from the harness so that evaluation itself has no side effects (the trainer calls
``evaluate_scorer`` every epoch). MLflow metric names cannot hold ``@``: ``ndcg@10`` is
logged as ``ndcg_at_10`` (``recloop.tracking.metric_key``).

- :func:`log_evaluation`: into the active run (``recloop evaluate``);
- :func:`log_evaluation_to_run`: the artifacts only (slice tables, metric-vs-K and frontier
  plots) into a finished run by id, without reopening it (reopening would move its end
  time): the gate logs each candidate's plots this way.
"""

from __future__ import annotations

import math

import pandas as pd

from recloop.errors import RecloopError
from recloop.evaluation.harness import EvalResult
from recloop.tracking import metric_key

SLICES = ("activity", "scenario", "cold_item")


def log_evaluation(
    result: EvalResult,
    *,
    prefix: str = "",
    curve: pd.DataFrame | None = None,
    frontier: pd.DataFrame | None = None,
    slices: tuple[str, ...] = SLICES,
) -> dict[str, float]:
    """Log ``result`` into the active MLflow run.

    Args:
        result: the evaluation.
        prefix: put before every metric name and artifact folder (e.g. ``"valid_"``).
        curve: ``curves.metric_curve`` output: logged as a table, as step metrics
            (``curve_ndcg`` at step K) and as ``plots/metric_vs_k.png``.
        frontier: ``curves.mmr_frontier`` output: table and ``plots/frontier.png``.
        slices: per-case columns to slice by; a slice with a single value is skipped.

    Returns:
        dict: the metric names and values logged.

    Raises:
        RecloopError: no MLflow run is active.
    """
    import mlflow

    if mlflow.active_run() is None:
        raise RecloopError("log_evaluation needs an active MLflow run")
    logged = {
        prefix + metric_key(key): float(value)
        for key, value in result.metrics.items()
        if math.isfinite(value)
    }
    logged[f"{prefix}eval_seconds"] = float(result.eval_seconds)
    logged[f"{prefix}eval_cases"] = float(result.n_cases)
    logged[f"{prefix}eval_users"] = float(result.per_user["user_id"].nunique())
    mlflow.log_metrics(logged)
    folder = f"{prefix}evaluation"
    for column in slices:
        if result.per_user[column].nunique(dropna=False) > 1:
            table = result.slice_table(column)
            table[column] = table[column].astype(str)
            mlflow.log_table(_flat(table), artifact_file=f"{folder}/slice_{column}.json")
    if curve is not None and not curve.empty:
        _log_curve(curve, prefix, folder)
    if frontier is not None and not frontier.empty:
        from recloop.evaluation.plots import plot_frontier  # matplotlib: only when plotting

        mlflow.log_table(frontier, artifact_file=f"{folder}/frontier.json")
        figure = plot_frontier(frontier)
        mlflow.log_figure(figure, f"{folder}/plots/frontier.png")
        _close(figure)
    return logged


def _log_curve(curve: pd.DataFrame, prefix: str, folder: str) -> None:
    import mlflow

    from recloop.evaluation.plots import plot_metric_curve  # matplotlib: likewise

    mlflow.log_table(curve, artifact_file=f"{folder}/metric_vs_k.json")
    for _, row in curve.iterrows():
        step = int(row["k"])
        values = {
            f"{prefix}curve_{name}": float(row[name]) for name in curve.columns if name != "k"
        }
        mlflow.log_metrics({k: v for k, v in values.items() if math.isfinite(v)}, step=step)
    figure = plot_metric_curve(curve)
    mlflow.log_figure(figure, f"{folder}/plots/metric_vs_k.png")
    _close(figure)


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """Column names without '@' (MLflow tables accept them, but keep them greppable)."""
    return table.rename(columns=lambda c: metric_key(str(c)))


def _close(figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def log_evaluation_to_run(
    run_id: str,
    result: EvalResult,
    *,
    curve: pd.DataFrame | None = None,
    frontier: pd.DataFrame | None = None,
    folder: str = "evaluation",
    slices: tuple[str, ...] = SLICES,
) -> list[str]:
    """Log ``result``'s slice tables and plots into run ``run_id``; returns the files.

    Files: ``<folder>/slice_<column>.json`` and ``plots/slice_<column>.png`` per slicing
    column with several values,
    ``<folder>/metric_vs_k.json`` and ``plots/metric_vs_k.png``, ``<folder>/frontier.json``
    and ``plots/frontier.png``.
    """
    from mlflow import MlflowClient

    from recloop.evaluation.plots import plot_frontier, plot_metric_curve, plot_slices

    client = MlflowClient()
    files = []
    for column in slices:
        if column in result.per_user and result.per_user[column].nunique(dropna=False) > 1:
            table = result.slice_table(column)
            table[column] = table[column].astype(str)
            path = f"{folder}/slice_{column}.json"
            client.log_table(run_id, _flat(table), artifact_file=path)
            figure = plot_slices(table, column)
            client.log_figure(run_id, figure, f"{folder}/plots/slice_{column}.png")
            _close(figure)
            files += [path, f"{folder}/plots/slice_{column}.png"]
    for frame, name, plot in (
        (curve, "metric_vs_k", plot_metric_curve),
        (frontier, "frontier", plot_frontier),
    ):
        if frame is None or frame.empty:
            continue
        client.log_table(run_id, frame, artifact_file=f"{folder}/{name}.json")
        figure = plot(frame)
        client.log_figure(run_id, figure, f"{folder}/plots/{name}.png")
        _close(figure)
        files += [f"{folder}/{name}.json", f"{folder}/plots/{name}.png"]
    return files
