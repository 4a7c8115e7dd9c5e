"""Great Expectations Data Docs for validated batches, built into the workspace.

Validation itself runs in an in-memory GX context (fast, and row lists never touch the
disk); afterwards the per-chunk results, stripped of row lists, are stored in the
workspace's file context (``<home>/gx``) together with the suite they were checked
against (so each page's suite link resolves), and its Data Docs site is rebuilt for them:
``<home>/gx/uncommitted/data_docs/local_site/index.html``. The pages GX writes are then
made to work offline (``docs_offline``) and given the batch's received / accepted /
quarantined figures (``docs_batches``).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from recloop.settings import Settings
from recloop.validation.docs_batches import (
    LEDGER_NAME,
    BatchSummary,
    append_entry,
    ledger_entry,
    show_on_index,
    show_on_pages,
)
from recloop.validation.docs_offline import make_offline
from recloop.validation.suite import load_suite_document

log = logging.getLogger(__name__)

SITE_NAME = "local_site"  # the file context's default site

__all__ = ["BatchSummary", "publish_data_docs"]


def publish_data_docs(settings: Settings, batch: BatchSummary, results: list[Any]) -> str | None:
    """Store ``results`` in the workspace GX context and build their Data Docs pages.

    Args:
        settings: gives the workspace (``<home>/gx``).
        batch: the batch's outcome, shown on its pages and in the index's batch table.
        results: GX suite results, one per validated chunk.

    Returns:
        The ``file://`` URL of the Data Docs index, or None when there was nothing to show.
    """
    if not results:
        return None
    try:
        return _build(settings, batch, results)
    except Exception as exc:  # the batch is already stored; docs must not fail the ingest
        log.warning("Data Docs not built for batch %s: %s", batch.batch_id[:12], exc)
        return None


def _build(settings: Settings, batch: BatchSummary, results: list[Any]) -> str | None:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="file", project_root_dir=str(settings.home_dir))
    suite_key = _store_suite(context, batch.kind)
    run_time = dt.datetime.now(dt.UTC)
    short_id = f"{batch.kind}-{batch.batch_id[:12]}"
    keys = []
    for number, result in enumerate(results, start=1):
        run_id = RunIdentifier(run_name=f"{short_id}-chunk{number}", run_time=run_time)
        # The page's title and header read these (the in-memory run named neither).
        result.meta["run_id"] = run_id.to_json_dict()
        result.meta.setdefault("batch_spec", {})["data_asset_name"] = batch.kind
        key = ValidationResultIdentifier(
            expectation_suite_identifier=suite_key, run_id=run_id, batch_identifier=short_id
        )
        context.validation_results_store.set(key, result)
        keys.append(key)
    context.build_data_docs(resource_identifiers=[*keys, suite_key])
    index = _page(context, None)
    if index is None:
        return None
    site_dir = index.parent
    pages = [page for page in (_page(context, key) for key in keys) if page is not None]
    suite_page = _page(context, suite_key)
    make_offline(site_dir, [index, *pages, *([suite_page] if suite_page else [])])
    entry = ledger_entry(batch, run_time, [p.relative_to(site_dir).as_posix() for p in pages])
    ledger = settings.gx_dir / "uncommitted" / LEDGER_NAME
    append_entry(ledger, entry)
    show_on_pages(pages, site_dir, entry)
    show_on_index(index, ledger)
    return index.as_uri()


def _store_suite(context: Any, kind: str) -> Any:
    """Save the kind's whole suite (every conditional expectation) in the file context.

    Validation runs against an in-memory copy; without this one the pages' links to the
    suite would lead nowhere.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    document = load_suite_document(kind)
    context.suites.add_or_update(
        gx.ExpectationSuite(
            name=document["name"],
            expectations=document["expectations"],
            meta=document.get("meta", {}),
        )
    )
    return ExpectationSuiteIdentifier(name=document["name"])


def _page(context: Any, key: Any) -> Path | None:
    """The local file of ``key``'s page (None: the index) in the default site, if built."""
    sites = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE_NAME)
    url = sites[0]["site_url"] if sites else None
    if not url or not url.startswith("file:"):
        return None
    path = Path(url2pathname(urlparse(url).path))
    return path if path.exists() else None
