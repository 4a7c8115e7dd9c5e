"""Prefect plumbing the flows share: run artifacts and the run's label (name and tags).

Only ``recloop.loop.flows`` imports this module (it imports Prefect). The rest of the
library stays usable, and testable, without Prefect. (The registry lock is not Prefect's:
it lives in the event store, see ``recloop.registry.lock``, so the CLI and flows share it
without a server.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

# Tag prefixes recloop owns on a flow run; a relabel replaces these and keeps the others
# (a deployment's own tags, a person's).
OWN_TAG_PREFIXES = ("mode:", "outcome:", "drift:")


def publish_markdown(markdown: str, key: str, description: str) -> None:
    """Attach a Markdown artifact to the current flow run (visible in the Prefect UI)."""
    from prefect.artifacts import create_markdown_artifact  # prefect: only inside a flow run

    create_markdown_artifact(markdown=markdown, key=key, description=description)


def label_flow_run(name: str, tags: Iterable[str] = ()) -> None:
    """Rename the current flow run and set recloop's tags on it.

    Prefect names a run at random before the flow knows anything; the flows call this once
    they know their window and again with their outcome, so the run list reads like a log.
    The runtime context is renamed too, so code that records the run's name later (a
    version's lineage, ``recloop.loop.provenance``) records this one. A label is worth a
    warning, never a failed run: errors are logged, not raised.
    """
    try:
        from prefect.client.orchestration import get_client
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        if context is None or context.flow_run is None:
            return
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(context.flow_run.id)
            kept = [t for t in current.tags if not t.startswith(OWN_TAG_PREFIXES)]
            new_tags = list(dict.fromkeys([*kept, *tags]))
            client.update_flow_run(context.flow_run.id, name=name, tags=new_tags)
        context.flow_run.name, context.flow_run.tags = name, new_tags
    except Exception as exc:
        log.warning("could not label the flow run %r: %s", name, exc)
