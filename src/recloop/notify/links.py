"""Links an on-call engineer can open: the MLflow run holding a report, a Prefect flow run.

Built on ``recloop.tracking.links`` (the same URLs a version's description uses), with one
difference: an alert is read on a phone or in a chat, not inside the MLflow UI, so a link
relative to the UI page means nothing there. Without a browsable base URL
(``notify.mlflow_ui_url``, or an http(s) tracking URI, credentials stripped) an MLflow link
is None and the message says how to find the run instead of printing a worker path.
Prefect's falls back to Prefect's own ``PREFECT_UI_URL``.
"""

from __future__ import annotations

from recloop.settings import Settings
from recloop.tracking import links


def mlflow_ui_base(settings: Settings) -> str | None:
    """The MLflow UI's absolute base URL, or None when no browsable one is known."""
    return links.mlflow_ui_base(settings) or None


def mlflow_run_link(
    settings: Settings, experiment_id: str | None, run_id: str | None, tab: str = "artifacts"
) -> str | None:
    """``<mlflow ui>/#/experiments/<id>/runs/<run>/<tab>``, or None without a base or run."""
    if mlflow_ui_base(settings) is None or not run_id or not experiment_id:
        return None
    return links.mlflow_run_url(settings, experiment_id, run_id, tab)


def prefect_ui_base(settings: Settings) -> str | None:
    """The Prefect UI's base URL: the setting, else Prefect's ``PREFECT_UI_URL``."""
    return links.prefect_ui_base(settings, _prefect_ui_url())


def flow_run_link(settings: Settings, flow_run_id: str | None) -> str | None:
    """``<prefect ui>/runs/flow-run/<id>``, or None without a base or an id."""
    return links.prefect_flow_run_url(prefect_ui_base(settings), flow_run_id)


def _prefect_ui_url() -> str | None:
    try:
        from prefect.settings import get_current_settings

        ui = get_current_settings().ui_url
    except Exception:  # Prefect missing or unconfigured: no link, never an error
        return None
    return str(ui) if ui else None
