"""Great Expectations Data Docs for validated batches, built into the workspace.

Validation itself runs in an in-memory GX context (fast, and row lists never touch the
disk); afterwards the per-chunk results, stripped of row lists, are stored in the
workspace's file context (``<home>/gx``) and its Data Docs site is rebuilt for them:
``<home>/gx/uncommitted/data_docs/local_site/index.html``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from recloop.settings import Settings

log = logging.getLogger(__name__)


def publish_data_docs(
    settings: Settings, kind: str, batch_id: str, results: list[Any]
) -> str | None:
    """Store ``results`` in the workspace GX context and build their Data Docs pages.

    Returns:
        The ``file://`` URL of the Data Docs index, or None when there was nothing to show.
    """
    if not results:
        return None
    try:
        return _build(settings, kind, batch_id, results)
    except Exception as exc:  # the batch is already stored; docs must not fail the ingest
        log.warning("Data Docs not built for batch %s: %s", batch_id[:12], exc)
        return None


def _build(settings: Settings, kind: str, batch_id: str, results: list[Any]) -> str | None:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="file", project_root_dir=str(settings.home_dir))
    run_time = dt.datetime.now(dt.UTC)
    keys = []
    for number, result in enumerate(results, start=1):
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=RunIdentifier(
                run_name=f"{kind}-{batch_id[:12]}-chunk{number}", run_time=run_time
            ),
            batch_identifier=f"{kind}-{batch_id[:12]}",
        )
        context.validation_results_store.set(key, result)
        keys.append(key)
    context.build_data_docs(resource_identifiers=keys)
    sites = context.get_docs_sites_urls()
    return sites[0]["site_url"] if sites else None
