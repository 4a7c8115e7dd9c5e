"""One complete evaluation of a model or baseline on the store's data (``recloop evaluate``).

Reads events and items, builds the protocol's cases, fits the baseline (or loads the model),
evaluates at the deepest K of the metric-vs-K curve, cuts at the requested K, optionally
traces the MMR frontier, and logs everything to an MLflow run. The CLI only parses flags
and prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recloop.columns import ITEM_COL, TIMESTAMP_COL
from recloop.data.store import load_events, load_items
from recloop.errors import UnusableInputError
from recloop.evaluation.baselines import BASELINES, build_baseline
from recloop.evaluation.curves import metric_curve, mmr_frontier, supports_mmr
from recloop.evaluation.harness import EvalResult, evaluate_scorer
from recloop.evaluation.mlflow_log import log_evaluation
from recloop.evaluation.protocols import EvalCases, leave_one_out, loo_cases, next_window_cases
from recloop.model.text import catalog_text_embeddings
from recloop.serving import load_recommender
from recloop.settings import Settings
from recloop.tracking import configure_mlflow

PROTOCOLS = ("loo", "next-window")
DAY = 86400


@dataclass
class ProtocolData:
    """Cases of a protocol and the events a model may have learned from."""

    cases: EvalCases
    train_events: pd.DataFrame
    cutoff: int | None


@dataclass
class EvaluationRun:
    """Outcome of ``evaluate_model``."""

    model: str
    protocol: str
    k: int
    result: EvalResult
    curve: pd.DataFrame
    frontier: pd.DataFrame | None
    train_seconds: float
    cutoff: int | None
    run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: model, protocol, k, users, metrics (``name@k``) and more."""
        return {
            "model": self.model,
            "protocol": self.protocol,
            "k": self.k,
            "users": int(self.result.per_user["user_id"].nunique()),
            "metrics": {key: float(value) for key, value in self.result.metrics.items()},
            "cases": self.result.n_cases,
            "eval_seconds": round(self.result.eval_seconds, 4),
            "train_seconds": round(self.train_seconds, 4),
            "ild_source": self.result.ild_source,
            "cutoff": self.cutoff,
            "run_id": self.run_id,
        }


def protocol_data(
    events: pd.DataFrame, protocol: str, *, cutoff: int | None = None, window_seconds: int = 7 * DAY
) -> ProtocolData:
    """Build the cases of ``protocol`` (``loo`` or ``next-window``) from canonical events.

    For next-window the default cut-off is ``window_seconds`` before the newest event.
    """
    if events.empty:
        raise UnusableInputError("the store holds no events; ingest some first (recloop data)")
    if protocol == "loo":
        split = leave_one_out(events)
        return ProtocolData(loo_cases(split, "test"), split.train, None)
    if protocol == "next-window":
        if cutoff is None:
            cutoff = int(events[TIMESTAMP_COL].max()) - int(window_seconds)
        cases = next_window_cases(events, cutoff, int(window_seconds))
        return ProtocolData(cases, events[events[TIMESTAMP_COL] <= cutoff], cutoff)
    raise UnusableInputError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def load_model(
    name_or_uri: str, train_events: pd.DataFrame, items: pd.DataFrame, settings: Settings
) -> tuple[Any, float]:
    """A baseline fitted on ``train_events``, or the recommender at a URI/dir; fit seconds."""
    start = time.perf_counter()
    if name_or_uri in BASELINES:
        catalog = np.union1d(items[ITEM_COL].to_numpy(), train_events[ITEM_COL].to_numpy())
        model = build_baseline(
            name_or_uri,
            train_events,
            catalog,
            seed=settings.eval.seed,
            recent_window_seconds=settings.eval.recent_popularity_days * DAY,
            neighbours=settings.eval.itemknn_neighbours,
        )
        return model, time.perf_counter() - start
    from pathlib import Path

    if ":" in name_or_uri and not Path(name_or_uri).exists():
        configure_mlflow(settings)  # models:/..., runs:/... resolve against the workspace
    return load_recommender(name_or_uri), 0.0


# Long: the `recloop evaluate` recipe in order (load, protocol, score, curves, log);
# each step is a call already.
def evaluate_model(
    settings: Settings,
    model: str,
    protocol: str = "loo",
    *,
    k: int | None = None,
    cutoff: int | None = None,
    window_days: float | None = None,
    text_ild: bool = False,
    log: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvaluationRun:
    """Evaluate ``model`` (a baseline name or a model URI/dir) on the store's events.

    Args:
        settings: store, MLflow and the ``eval`` section.
        model: ``pop``, ``recent-pop``, ``itemknn``, ``random`` or a model URI/dir.
        protocol: ``loo`` or ``next-window``.
        k: list length (default ``eval.k``).
        cutoff: next-window cut-off (Unix s); default: the model's training window end, or
            (baselines, models without one) one window before the newest event.
        window_days: next-window length (default ``eval.next_window_days``).
        text_ild: for baselines, compute item text embeddings (cached) for ``ild@k``.
        log: log to MLflow (default ``eval.log_to_mlflow``).
        progress: called with the number of cases scored.

    Returns:
        EvaluationRun.
    """

    cfg = settings.eval
    k = k or cfg.k
    window = int((window_days or cfg.next_window_days) * DAY)
    events, items = load_events(settings), load_items(settings)
    is_baseline = model in BASELINES
    if not is_baseline:
        scorer, train_seconds = load_model(model, events.iloc[:0], items, settings)
        if protocol == "next-window" and cutoff is None:
            cutoff = model_cutoff(scorer)
    data = protocol_data(events, protocol, cutoff=cutoff, window_seconds=window)
    if is_baseline:
        scorer, train_seconds = load_model(model, data.train_events, items, settings)
    embeddings = _embeddings(scorer, items, settings, text_ild)
    deepest = max([k, *cfg.curve_ks])
    options = dict(items=items, item_embeddings=embeddings, popularity=data.train_events)
    deep = evaluate_scorer(
        scorer,
        data.cases,
        k=deepest,
        batch_size=cfg.batch_size,
        tail_ratio=cfg.tail_ratio,
        activity_edges=cfg.activity_edges,
        progress=progress,
        **options,
    )
    result = deep.at_k(k)
    result.eval_seconds = deep.eval_seconds
    logging = cfg.log_to_mlflow if log is None else log
    frontier = None
    if logging and supports_mmr(scorer) and cfg.mmr_lambdas:  # the frontier is a logged plot
        sample = data.cases.subset(np.arange(len(data.cases)) < cfg.frontier_cases)
        frontier = mmr_frontier(scorer, sample, cfg.mmr_lambdas, k=k, **options)
    run = EvaluationRun(
        model,
        protocol,
        k,
        result,
        metric_curve(deep, cfg.curve_ks),
        frontier,
        train_seconds,
        data.cutoff,
    )
    if logging:
        run.run_id = log_run(settings, run)
    return run


def model_cutoff(model: Any) -> int | None:
    """The last training second of a trained model (its ``window_end`` is exclusive).

    next-window then tests on the events the model never saw; None when unknown.
    """
    window_end = (getattr(model, "config", None) or {}).get("window_end")
    return None if window_end is None else int(window_end) - 1


def _embeddings(scorer, items: pd.DataFrame, settings: Settings, text_ild: bool):
    """Item text embeddings aligned with ``scorer.item_ids``, when there are any."""
    own = getattr(scorer, "item_text_embeddings", None)
    if own is not None:
        return np.asarray(own)
    if not text_ild:
        return None

    catalog = items.set_index(ITEM_COL).reindex(scorer.item_ids).reset_index()
    catalog[["title", "genres"]] = catalog[["title", "genres"]].fillna("")
    return catalog_text_embeddings(settings, catalog)


def log_run(settings: Settings, run: EvaluationRun) -> str:
    """Log ``run`` as one MLflow run of the workspace experiment; returns its id."""
    import mlflow

    configure_mlflow(settings)
    with mlflow.start_run(run_name=f"evaluate-{_short(run.model)}-{run.protocol}") as active:
        mlflow.set_tags({"recloop.stage": "evaluate", "recloop.protocol": run.protocol})
        mlflow.log_params(
            {
                "model": run.model,
                "protocol": run.protocol,
                "k": run.k,
                "cutoff": run.cutoff,
                "ild_source": run.result.ild_source,
            }
        )
        mlflow.log_metric("train_seconds", run.train_seconds)
        log_evaluation(run.result, curve=run.curve, frontier=run.frontier)
        return active.info.run_id


def _short(model: str) -> str:
    return model.rstrip("/").split("/")[-1][:60] or model
