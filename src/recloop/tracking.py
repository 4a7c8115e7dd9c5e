"""MLflow tracking set-up shared by every stage that logs runs.

One function points MLflow at the workspace store (or the configured server) and makes
sure the experiment exists with an explicit artifact location, because MLflow's defaults
depend on the current directory (``./mlflow.db``, ``./mlruns``). Metric keys are spelt
``name@k`` everywhere in recloop; :func:`metric_key` is their one MLflow spelling.
"""

from __future__ import annotations

import os

from recloop.settings import Settings


def configure_mlflow(settings: Settings) -> str:
    """Point MLflow at ``settings``' tracking store and select recloop's experiment.

    Args:
        settings: recloop settings; ``registry.tracking_uri`` and ``artifact_location``
            default to the workspace's SQLite store and artifact folder.

    Returns:
        str: the experiment id.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    uri = settings.mlflow_tracking_uri.get_secret_value()  # to connect; never logged
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = settings.registry.experiment_name
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        # A server proxies artifacts itself (mlflow-artifacts:/); only set a location
        # for local stores or when the operator configured one explicitly.
        is_server = uri.startswith(("http://", "https://"))
        location = settings.registry.artifact_location or (
            None if is_server else settings.mlflow_artifact_location
        )
        experiment_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def metric_key(name: str) -> str:
    """MLflow spelling of a recloop metric key: ``ndcg@10`` -> ``ndcg_at_10``.

    MLflow names allow letters, digits, ``_-./`` and space, not ``@``.
    """
    return name.replace("@", "_at_")
