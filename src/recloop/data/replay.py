"""Replay: cut a dataset into time-ordered batch files that simulate a live stream.

``recloop replay movielens-100k --every 7d --out DIR`` writes::

    DIR/items.csv, DIR/users.csv            catalogs, canonical columns (ingest --kind items)
    DIR/events-0001.csv ...                 one canonical events file per non-empty period
    DIR/manifest.json                       periods, files, row counts

Periods are half-open ``[start, end)``; the first starts at the earliest event, aligned
down to a UTC midnight. Events keep source order within a file (stable time sort), and
every file re-ingests cleanly with ``recloop ingest`` / ``ingest_path``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from recloop.columns import EVENT_COLUMNS, TIMESTAMP_COL
from recloop.data.datasets import load_dataset
from recloop.errors import UnusableInputError
from recloop.settings import Settings

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DAY = 86400


def parse_period(text: str) -> int:
    """``"7d"`` -> 604800 seconds (units s, m, h, d, w)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match or int(match.group(1)) == 0:
        raise UnusableInputError(f"bad period {text!r}; use e.g. 7d, 12h, 3600s")
    return int(match.group(1)) * UNITS[match.group(2)]


def replay_dataset(
    settings: Settings, dataset: str | Path, every: str, out: str | Path
) -> dict[str, Any]:
    """Write the batch files and the manifest; return the manifest.

    Args:
        settings: resolves named datasets (``settings.datasets_dir``).
        dataset: dataset name or directory.
        every: period such as ``7d``.
        out: output directory (created); files of an earlier replay in it are replaced.

    Raises:
        UnusableInputError: a bad period, or ``out`` is an existing file (checked before
            the dataset is read, so the mistake costs nothing).
    """
    period = parse_period(every)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UnusableInputError(f"--out {out} is a file; give a directory for the batch files")
    data = load_dataset(settings, dataset)
    out.mkdir(parents=True, exist_ok=True)
    events = data.events.sort_values(TIMESTAMP_COL, kind="stable")[EVENT_COLUMNS]
    origin = int(events[TIMESTAMP_COL].min()) // DAY * DAY
    period_index = (events[TIMESTAMP_COL].to_numpy() - origin) // period
    batches = []
    for number, index in enumerate(np.unique(period_index), start=1):
        chunk = events[period_index == index]
        name = f"events-{number:04d}.csv"
        chunk.to_csv(out / name, index=False)
        start = origin + int(index) * period
        batches.append({"file": name, "start": start, "end": start + period, "events": len(chunk)})
    catalogs = {}
    if data.items is not None:
        data.items.to_csv(out / "items.csv", index=False)
        catalogs["items"] = "items.csv"
    if data.users is not None:
        data.users.to_csv(out / "users.csv", index=False)
        catalogs["users"] = "users.csv"
    manifest = {
        "dataset": str(dataset),
        "every": every,
        "period_seconds": period,
        "events": len(events),
        "catalogs": catalogs,
        "batches": batches,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
