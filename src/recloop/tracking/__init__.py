"""MLflow tracking set-up shared by every stage that logs runs, and the names runs use.

One function points MLflow at the workspace store (or the configured server) and makes
sure the experiment exists with an explicit artifact location, because MLflow's defaults
depend on the current directory (``./mlflow.db``, ``./mlruns``). A workspace store that was
copied or moved is rewritten to its new place first (``recloop.tracking.relocate``).

Metric keys are spelt ``name@k`` everywhere in recloop; :func:`metric_key` is their one
MLflow spelling, and :func:`run_metric_key` decides what a person sees in the runs table:
headline metrics under short keys (``ndcg_at_10``), every other number under the one
``diag/`` prefix, so the table's columns are the few numbers worth comparing.
"""

from __future__ import annotations

import os
from typing import Any

from recloop.settings import Settings

# Metrics shown under their own short key on a candidate's run (relevance first, then
# beyond-accuracy); every other metric is a diagnostic under DIAG_PREFIX.
HEADLINE_METRICS = ("ndcg", "recall", "mrr", "hit", "ild", "coverage", "novelty", "gini")
RELEVANCE_METRICS = ("ndcg", "recall", "mrr", "hit")
DIAG_PREFIX = "diag/"


def secret_value(value: Any) -> Any:
    """The plain value of a pydantic ``SecretStr`` (or the value itself when not secret)."""
    reveal = getattr(value, "get_secret_value", None)
    return reveal() if callable(reveal) else value


def tracking_uri(settings: Settings) -> str:
    """The MLflow tracking URI as a plain string (to connect with; never log it)."""
    return str(secret_value(settings.mlflow_tracking_uri))


def is_server(settings: Settings) -> bool:
    """Whether MLflow is reached over HTTP (a tracking server proxies the artifacts)."""
    return tracking_uri(settings).startswith(("http://", "https://"))


def configure_mlflow(settings: Settings, experiment: str | None = None) -> str:
    """Point MLflow at ``settings``' tracking store and select an experiment.

    Args:
        settings: recloop settings; ``registry.tracking_uri`` and ``artifact_location``
            default to the workspace's SQLite store and artifact folder.
        experiment: the experiment to select (default ``registry.experiment_name``; drift
            checks use ``registry.drift_experiment_name``).

    Returns:
        str: the experiment id.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    from recloop.tracking.relocate import relocate_workspace_store

    relocate_workspace_store(settings)  # a copied/moved workspace: before MLflow reads it
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = experiment or settings.registry.experiment_name
    found = mlflow.get_experiment_by_name(name)
    if found is None:
        # A server proxies artifacts itself (mlflow-artifacts:/); only set a location
        # for local stores or when the operator configured one explicitly.
        location = settings.registry.artifact_location or (
            None if is_server(settings) else settings.mlflow_artifact_location
        )
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def metric_key(name: str) -> str:
    """MLflow spelling of a recloop metric key: ``ndcg@10`` -> ``ndcg_at_10``.

    MLflow names allow letters, digits, ``_-./`` and space, not ``@``.
    """
    return name.replace("@", "_at_")


def is_headline(name: str) -> bool:
    """Whether ``name`` (``ndcg@10`` or ``ndcg_at_10``) is a headline metric."""
    base = name.split("@")[0].split("_at_")[0]
    return base in HEADLINE_METRICS


def run_metric_key(name: str) -> str:
    """The key a metric is logged under on a run: headline short, the rest ``diag/``.

    ``ndcg@10`` -> ``ndcg_at_10``; ``precision@10`` -> ``diag/precision_at_10``;
    ``train_loss`` -> ``diag/train_loss``.
    """
    key = metric_key(name)
    return key if is_headline(name) else f"{DIAG_PREFIX}{key}"
