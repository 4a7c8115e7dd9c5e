"""Where a loop step's candidate came from: its drift check's run and its Prefect flow run.

A version's description links both (``recloop.registry.describe``). They are found by the
step's data window rather than passed along, so a retried training task, or one in
another process, finds the same ones:

- :func:`drift_run` opens the drift check's MLflow run in its own experiment
  (``registry.drift_experiment_name``), named by the checked window and tagged with the
  step's run key and the champion version it compared against; the drift check logs its
  report into it (``recloop.drift.report.log_to_mlflow`` uses the active run);
- :func:`find_drift_run` finds that run again by the run key;
- :func:`current_flow_run` reads the Prefect flow run the code runs in (none outside one).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recloop.loop.plan import StepPlan
from recloop.registry.describe import window_dates
from recloop.registry.tags import TAG_CHECKED_VERSION, TAG_RUN_KEY, TAG_STAGE, TAG_STEP_WINDOW
from recloop.settings import Settings
from recloop.tracking import configure_mlflow
from recloop.tracking.links import prefect_flow_run_url, prefect_ui_base

log = logging.getLogger(__name__)

DRIFT_DETECTED_TAG = "recloop.drift.detected"  # written by recloop.drift.report


@contextmanager
def drift_run(settings: Settings, plan: StepPlan, window_start: int) -> Iterator[Any]:
    """The drift check's own MLflow run (or nothing when drift is not logged to MLflow)."""
    if not settings.drift.log_to_mlflow:
        yield None
        return
    import mlflow

    experiment_id = configure_mlflow(settings, settings.registry.drift_experiment_name)
    checked = plan.parent.version if plan.parent else None
    window = window_dates(window_start, plan.window_end)
    name = f"drift {window}" + (f" vs v{checked}" if checked else "")
    tags = {TAG_STAGE: "drift", TAG_RUN_KEY: plan.run_key, TAG_STEP_WINDOW: window}
    if checked:
        tags[TAG_CHECKED_VERSION] = checked
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
            yield run
    finally:
        configure_mlflow(settings)  # later runs go to the training experiment again


def find_drift_run(settings: Settings, plan: StepPlan) -> dict[str, str | None]:
    """The step's drift run as lineage fields (empty when there was none). Never raises."""
    if not settings.drift.log_to_mlflow:
        return {}
    try:
        import mlflow

        experiment_id = configure_mlflow(settings, settings.registry.drift_experiment_name)
        runs = mlflow.search_runs(
            experiment_ids=[experiment_id],
            filter_string=f"tags.`{TAG_RUN_KEY}` = '{plan.run_key}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
            output_format="list",
        )
        configure_mlflow(settings)
    except Exception as exc:  # a missing link must not stop a training
        log.warning("drift run of %s not found: %s", plan.run_key, exc)
        return {}
    if not runs:
        return {}
    run = runs[0]
    detected = run.data.tags.get(DRIFT_DETECTED_TAG)
    verdict = {"true": "drift detected", "false": "no drift"}.get(detected or "", "drift check")
    return {
        "drift_run_id": run.info.run_id,
        "drift_experiment_id": run.info.experiment_id,
        "drift_verdict": verdict,
    }


def current_flow_run(settings: Settings) -> dict[str, str | None]:
    """The Prefect flow run this code runs in, with its UI link when a UI is known."""
    if "prefect" not in sys.modules:  # not inside a flow: no need to import Prefect
        return {}
    try:
        from prefect.runtime import flow_run
        from prefect.settings import get_current_settings

        flow_run_id = flow_run.id
        if not flow_run_id:
            return {}
        ui = get_current_settings().ui_url
        base = prefect_ui_base(settings, str(ui) if ui else None)
        return {
            "flow_run_id": str(flow_run_id),
            "flow_run_name": flow_run.name,
            "flow_run_url": prefect_flow_run_url(base, str(flow_run_id)),
        }
    except Exception as exc:  # no runtime context, an old Prefect: no link, never an error
        log.debug("no Prefect flow run: %s", exc)
        return {}
