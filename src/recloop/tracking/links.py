"""Links a person can open from a version's description: its run, its drift check, its flow run.

The URLs the loop uses (a SQLite file, a tracking server on an internal name) mean nothing
in a browser, so links are built from the UI base URLs when they are configured
(``notify.mlflow_ui_url`` / ``notify.prefect_ui_url``, read with a fallback because older
settings lack them), else from an http(s) tracking URI without its credentials. With no
base at all an MLflow link is *relative* (``#/experiments/1/runs/abc``): the description is
read inside the MLflow UI, whose pages are hash routes, so the link opens there wherever
the UI is served, and a copied workspace keeps working links.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from recloop.settings import Settings
from recloop.tracking import secret_value, tracking_uri


def _setting(settings: Settings, name: str) -> str | None:
    value = secret_value(getattr(settings.notify, name, None))
    return str(value).rstrip("/") if value else None


def mlflow_ui_base(settings: Settings) -> str:
    """The MLflow UI's base URL, or ``""`` (links relative to the UI page itself)."""
    configured = _setting(settings, "mlflow_ui_url")
    if configured:
        return configured
    uri = tracking_uri(settings)
    if not uri.startswith(("http://", "https://")):
        return ""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def mlflow_run_url(
    settings: Settings, experiment_id: str, run_id: str, tab: str | None = None
) -> str:
    """``<base>/#/experiments/<id>/runs/<run>[/<tab>]`` (relative without a base)."""
    url = f"{mlflow_ui_base(settings)}/#/experiments/{experiment_id}/runs/{run_id}"
    url = url if mlflow_ui_base(settings) else url.lstrip("/")
    return f"{url}/{tab}" if tab else url


def mlflow_version_url(settings: Settings, version: str) -> str:
    """The MLflow UI page of one version of the registered model."""
    name = quote(settings.registry.model_name, safe="")
    url = f"{mlflow_ui_base(settings)}/#/models/{name}/versions/{version}"
    return url if mlflow_ui_base(settings) else url.lstrip("/")


def prefect_ui_base(settings: Settings, fallback: str | None = None) -> str | None:
    """The Prefect UI's base URL: ``notify.prefect_ui_url``, else ``fallback`` (Prefect's)."""
    return _setting(settings, "prefect_ui_url") or (fallback.rstrip("/") if fallback else None)


def prefect_flow_run_url(base: str | None, flow_run_id: str | None) -> str | None:
    """``<prefect ui>/runs/flow-run/<id>``, or None without a base or an id."""
    if not base or not flow_run_id:
        return None
    return f"{base.rstrip('/')}/runs/flow-run/{flow_run_id}"
