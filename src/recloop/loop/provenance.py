"""Where a loop step's candidate came from: its drift check's run and its Prefect flow run.

A version's description links both (``recloop.registry.describe``). They are found by the
step's data window rather than passed along, so a retried training task, or one in
another process, finds the same ones:

- :func:`drift_run` opens the drift check's MLflow run in its own experiment
  (``registry.drift_experiment_name``), named by the checked window and tagged with the
  step's run key and the champion version it compared against; the drift check stores its
  report in it (``recloop.drift.report.store_report`` uses the active run);
  :func:`monitor_drift_run` does the same for a check outside a loop step (``recloop
  drift``, the monitor flow);
- :func:`find_drift_run` finds that run again by the run key;
- :func:`current_flow_run` reads the Prefect flow run the code runs in (none outside one).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recloop.drift.report import DETECTED_TAG as DRIFT_DETECTED_TAG
from recloop.drift.verdict import verdict_words
from recloop.loop.plan import StepPlan
from recloop.registry.describe import window_dates
from recloop.registry.tags import TAG_CHECKED_VERSION, TAG_RUN_KEY, TAG_STAGE, TAG_STEP_WINDOW
from recloop.settings import Settings
from recloop.tracking import configure_mlflow
from recloop.tracking.links import prefect_flow_run_url, prefect_ui_base

log = logging.getLogger(__name__)


@contextmanager
def drift_run(settings: Settings, plan: StepPlan, window_start: int) -> Iterator[Any]:
    """The drift check's own MLflow run (or nothing when drift is not logged to MLflow)."""
    checked = plan.parent.version if plan.parent else None
    with _drift_experiment_run(
        settings, (window_start, plan.window_end), checked, {TAG_RUN_KEY: plan.run_key}
    ) as run:
        yield run


@contextmanager
def monitor_drift_run(
    settings: Settings, window: tuple[int, int], checked_version: str | None
) -> Iterator[Any]:
    """The MLflow run of a check outside a loop step, in the same drift experiment."""
    with _drift_experiment_run(settings, window, checked_version, {}) as run:
        yield run


@contextmanager
def _drift_experiment_run(
    settings: Settings,
    window: tuple[int, int],
    checked: str | None,
    extra_tags: dict[str, str],
) -> Iterator[Any]:
    """A run in ``registry.drift_experiment_name`` named and tagged by the checked window."""
    if not settings.drift.log_to_mlflow:
        yield None
        return
    import mlflow

    experiment_id = configure_mlflow(settings, settings.registry.drift_experiment_name)
    dates = window_dates(*window)
    name = f"drift {dates}" + (f" vs v{checked}" if checked else "")
    tags = {TAG_STAGE: "drift", TAG_STEP_WINDOW: dates, **extra_tags}
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
    verdict = verdict_words(detected == "true") if detected in ("true", "false") else "drift check"
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
