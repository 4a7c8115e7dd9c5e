"""The ingest flow: validate and store batch files (items and users first, then events).

Thin by design: each task calls one library function (``recloop.data.ingest.ingest_path``)
and retries only on transient database errors (lost connections, a locked SQLite file);
bad data is never retried, it is quarantined by the library. Runs without a Prefect
server (ephemeral API)::

    python flows/ingest.py path/to/items.csv path/to/events-0001.csv

or from Python: ``ingest_flow(["items.csv", "events-0001.csv"])``.
"""

from __future__ import annotations

import sys
from typing import Any

from prefect import flow, get_run_logger, task

from recloop.data.readers import infer_kind
from recloop.settings import Settings

KIND_ORDER = {"items": 0, "users": 1, "events": 2}


def is_transient_db_error(task, task_run, state) -> bool:
    """Retry only errors a second attempt can fix: disconnects, locks, timeouts."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        state.result()
    except OperationalError:
        return True
    except DBAPIError as exc:
        return bool(exc.connection_invalidated)
    except Exception:
        return False
    return False


@task(retries=3, retry_delay_seconds=[1, 5, 15], retry_condition_fn=is_transient_db_error)
def ingest_batch(settings: Settings, path: str) -> dict[str, Any]:
    """Ingest one file (its columns decide its kind); returns the batch report as a dict."""
    from recloop.data.ingest import ingest_path

    return ingest_path(settings, path).to_dict()


@flow(name="recloop-ingest", log_prints=True)
def ingest_flow(paths: list[str], settings: Settings | None = None) -> list[dict[str, Any]]:
    """Ingest ``paths`` in a safe order: catalogs first so events find their items."""
    settings = settings or Settings()
    logger = get_run_logger()
    # The file name only orders the files; each file's columns decide its kind.
    ordered = sorted(paths, key=lambda path: KIND_ORDER[infer_kind(path)])
    reports = []
    for path in ordered:
        report = ingest_batch(settings, path)
        logger.info(
            "%s: %s (received %s, accepted %s, quarantined %s, duplicates %s)",
            path,
            report["status"],
            report["received"],
            report["accepted"],
            report["quarantined"],
            report["duplicates"],
        )
        reports.append(report)
    return reports


if __name__ == "__main__":
    ingest_flow(sys.argv[1:])
