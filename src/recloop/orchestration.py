"""Prefect plumbing the flows share: the registry lock and run artifacts.

Only ``flows/`` imports this module (it imports Prefect). The library stays usable, and
testable, without Prefect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from recloop.settings import Settings


def ensure_registry_limit(settings: Settings) -> None:
    """Create the global concurrency limit (1 slot) guarding the registry, if missing.

    ``concurrency(..., strict=False)`` silently skips limits that do not exist, so the flow
    makes sure it exists first. Creating it is idempotent across concurrent runs: a
    conflict means another run created it a moment earlier.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    name = settings.loop.registry_lock_name
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )


@contextmanager
def registry_lock(settings: Settings) -> Iterator[None]:
    """Hold the single registry slot while a run decides and moves aliases.

    The slot is a lease: Prefect renews it while this run is alive, and a crashed run's
    slot frees itself after ``registry_lock_lease_seconds`` instead of blocking forever.
    """
    from prefect.concurrency.sync import concurrency

    ensure_registry_limit(settings)
    with concurrency(
        settings.loop.registry_lock_name,
        occupy=1,
        timeout_seconds=settings.loop.registry_lock_timeout_seconds,
        lease_duration=settings.loop.registry_lock_lease_seconds,
        strict=True,
    ):
        yield


def publish_markdown(markdown: str, key: str, description: str) -> None:
    """Attach a Markdown artifact to the current flow run (visible in the Prefect UI)."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=markdown, key=key, description=description)
