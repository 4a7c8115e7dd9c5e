"""Figures of an evaluation: metrics versus K, and the relevance-diversity frontier.

Matplotlib with the non-interactive Agg backend (no display on servers and in CI).
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric_curve(curve: pd.DataFrame, metrics=("recall", "ndcg", "mrr", "coverage")):
    """Line plot of each metric against K (``curves.metric_curve`` output)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for name in metrics:
        if name in curve.columns:
            axis.plot(curve["k"], curve[name], marker="o", label=name)
    axis.set_xlabel("K (list length)")
    axis.set_ylabel("metric @K")
    axis.set_title("Metrics versus K")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


def plot_frontier(frontier: pd.DataFrame, relevance: str = "ndcg", diversity: str = "ild"):
    """Relevance against intra-list diversity over the MMR lambda (``mmr_frontier``)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(frontier[diversity], frontier[relevance], marker="o")
    for _, row in frontier.iterrows():
        axis.annotate(
            f"λ={row['lambda']:g}",
            (row[diversity], row[relevance]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    axis.set_xlabel(f"{diversity} (intra-list diversity)")
    axis.set_ylabel(relevance)
    axis.set_title("Relevance-diversity frontier (MMR)")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def plot_slices(table: pd.DataFrame, by: str, metrics=("ndcg", "recall")):
    """Bars of each metric per slice value (``EvalResult.slice_table(by)``), cases labelled.

    Columns may be spelt ``ndcg@10`` or ``ndcg_at_10``; the first column per metric name
    found is drawn.
    """
    import numpy as np

    plt = _pyplot()
    columns = []
    for name in metrics:
        found = [c for c in table.columns if str(c).split("@")[0].split("_at_")[0] == name]
        if found:
            columns.append(found[0])
    figure, axis = plt.subplots(figsize=(6, 4))
    pairs = zip(table[by], table["cases"], strict=True)
    labels = [f"{value}\n({int(n)} cases)" for value, n in pairs]
    positions = np.arange(len(table))
    width = 0.8 / max(1, len(columns))
    for offset, column in enumerate(columns):
        axis.bar(positions + offset * width, table[column], width, label=str(column))
    axis.set_xticks(positions + width * (len(columns) - 1) / 2, labels, fontsize=8)
    axis.set_ylabel("metric (mean over the slice's cases)")
    axis.set_title(f"Metrics per {by}")
    axis.grid(alpha=0.3, axis="y")
    axis.legend()
    figure.tight_layout()
    return figure
