"""Links an on-call engineer can open: the MLflow run holding a report, a Prefect flow run.

Built from the configured UI base URLs (``notify.mlflow_ui_url``, ``notify.prefect_ui_url``)
because the URLs the worker uses (a tracking server on an internal name, a file path on the
worker's disk) mean nothing on a phone. Without a configured base, MLflow's falls back to
an http(s) tracking URI stripped of its credentials and Prefect's to Prefect's own UI URL;
without either, the message says how to get a link instead of printing a worker path.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from recloop.settings import Settings


def mlflow_ui_base(settings: Settings) -> str | None:
    """The MLflow UI's base URL, or None when no browsable one is known."""
    if settings.notify.mlflow_ui_url:
        return settings.notify.mlflow_ui_url.rstrip("/")
    uri = settings.mlflow_tracking_uri.get_secret_value()
    if not uri.startswith(("http://", "https://")):
        return None
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def mlflow_run_link(
    settings: Settings, experiment_id: str | None, run_id: str | None, tab: str = "artifacts"
) -> str | None:
    """``<mlflow ui>/#/experiments/<id>/runs/<run>/<tab>``, or None without a base or run."""
    base = mlflow_ui_base(settings)
    if base is None or not run_id or not experiment_id:
        return None
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}/{tab}"


def prefect_ui_base(settings: Settings) -> str | None:
    """The Prefect UI's base URL: the setting, else Prefect's ``PREFECT_UI_URL``."""
    if settings.notify.prefect_ui_url:
        return settings.notify.prefect_ui_url.rstrip("/")
    try:
        from prefect.settings import get_current_settings

        ui = get_current_settings().ui_url
    except Exception:  # Prefect missing or unconfigured: no link, never an error
        return None
    return str(ui).rstrip("/") if ui else None


def flow_run_link(settings: Settings, flow_run_id: str | None) -> str | None:
    """``<prefect ui>/runs/flow-run/<id>``, or None without a base or an id."""
    base = prefect_ui_base(settings)
    if base is None or not flow_run_id:
        return None
    return f"{base}/runs/flow-run/{flow_run_id}"
