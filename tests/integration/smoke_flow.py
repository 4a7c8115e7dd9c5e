"""A small flow for the server-mode integration test, run as a real deployment.

It goes through recloop's own configuration only: ``get_settings()`` reads
``RECLOOP_REGISTRY__TRACKING_URI`` from the worker's environment and ``configure_mlflow``
points MLflow at the tracking server. It reads the real MovieLens-100k catalog and logs one
MLflow run tagged with its Prefect flow-run id, so the test can join the two servers' state.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run


@flow(name="recloop-server-smoke")
def server_smoke(movielens_dir: str) -> str:
    """Log the catalog size of ``movielens_dir`` to the configured MLflow server.

    Returns:
        str: the MLflow run id.
    """
    import mlflow

    from recloop.data.readers import read_movielens_canonical
    from recloop.settings import get_settings
    from recloop.tracking import configure_mlflow

    settings = get_settings()
    configure_mlflow(settings)
    dataset = read_movielens_canonical(movielens_dir)
    with mlflow.start_run(run_name="server-smoke") as run:
        mlflow.set_tag("prefect.flow_run_id", str(flow_run.id))
        mlflow.log_metrics({"n_events": len(dataset.events), "n_items": len(dataset.items)})
        # The URI is a secret in general; this test's server URL holds none.
        mlflow.log_text(settings.mlflow_tracking_uri.get_secret_value(), "smoke/tracking_uri.txt")
    get_run_logger().info("logged MLflow run %s to the tracking server", run.info.run_id)
    return run.info.run_id
