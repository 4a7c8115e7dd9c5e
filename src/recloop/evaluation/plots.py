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
