"""Prefect plumbing the flows share: run artifacts.

Only ``recloop.loop.flows`` imports this module (it imports Prefect). The rest of the
library stays usable, and testable, without Prefect. (The registry lock is not Prefect's:
it lives in the event store, see ``recloop.registry.lock``, so the CLI and flows share it
without a server.)
"""

from __future__ import annotations


def publish_markdown(markdown: str, key: str, description: str) -> None:
    """Attach a Markdown artifact to the current flow run (visible in the Prefect UI)."""
    from prefect.artifacts import create_markdown_artifact  # prefect: only inside a flow run

    create_markdown_artifact(markdown=markdown, key=key, description=description)
