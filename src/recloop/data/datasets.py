"""Named datasets: find them locally first, fetch them from GroupLens when asked.

``resolve_dataset(settings, "movielens-1m")`` looks in ``settings.datasets_dir`` (set
``RECLOOP_DATA_DIR=../shared/datasets`` to use the shared copies offline: movielens-100k,
movielens-1m, amazon-beauty) and accepts a plain directory path too. ``fetch_dataset``
downloads the zip named in ``settings.ingest.dataset_sources``, verifies its checksum
before unpacking, and writes the canonical CSV form (``interactions.csv``, ``items.csv``,
``users.csv``) next to the original files, so both layouts read the same afterwards.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from recloop.columns import (
    EVENT_TYPE_COL,
    GENRES_COL,
    ITEM_COL,
    SCENARIO_COL,
    SESSION_COL,
    TIMESTAMP_COL,
    TITLE_COL,
    USER_COL,
    VALUE_COL,
    YEAR_COL,
)
from recloop.data.readers import Dataset, read_dataset
from recloop.errors import NotFoundError, RecloopError
from recloop.settings import IngestSettings, Settings


class FetchError(RecloopError):
    """The download failed (offline, HTTP error) or its checksum did not match."""

    exit_code = 2


def resolve_dataset(settings: Settings, name_or_path: str | Path) -> Path:
    """The directory of a named dataset (datasets dir first) or of an explicit path.

    Any folder of ``settings.datasets_dir`` is a named dataset: ``movielens-100k``,
    ``movielens-1m`` and ``amazon-beauty`` in ../shared/datasets, or a user's own.
    """
    candidate = Path(name_or_path)
    if candidate.is_dir():
        return candidate.resolve()
    named = settings.datasets_dir / str(name_or_path)
    if named.is_dir():
        return named
    hint = "set RECLOOP_DATA_DIR to a folder holding it"
    if str(name_or_path) in settings.ingest.dataset_sources:
        hint = f"run `recloop data fetch {name_or_path}` or {hint}"
    raise NotFoundError(f"dataset {name_or_path!r} not found in {settings.datasets_dir}; {hint}")


def load_dataset(settings: Settings, name_or_path: str | Path) -> Dataset:
    """Read a named dataset (any supported layout) as canonical tables.

    Implicit event files get the event type and value of ``settings.ingest``
    (``readers.event_defaults``), as ingesting them would.
    """
    return read_dataset(resolve_dataset(settings, name_or_path), settings.ingest)


def fetch_dataset(settings: Settings, name: str, force: bool = False) -> dict[str, Any]:
    """Download, verify and unpack a named dataset into ``settings.datasets_dir``.

    Returns:
        ``{"name", "status": "present"|"fetched", "path", "checksum"}``.

    Raises:
        NotFoundError: no source is configured under that name.
        FetchError: offline, HTTP failure, or checksum mismatch (nothing is written).
    """
    sources = settings.ingest.dataset_sources
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise NotFoundError(f"no download source for dataset {name!r} (known: {known})")
    target = settings.datasets_dir / name
    if (target / "interactions.csv").exists() and not force:
        return {"name": name, "status": "present", "path": str(target), "checksum": None}
    url, checksum = sources[name]
    payload = _download(url, settings.ingest.fetch_timeout_seconds)
    _verify(payload, checksum, url)
    _unpack(payload, target, settings.ingest)
    return {"name": name, "status": "fetched", "path": str(target), "checksum": checksum}


def _download(url: str, timeout: float) -> bytes:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise FetchError(f"download of {url} failed: HTTP {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise FetchError(
            f"cannot download {url} ({type(exc).__name__}: {exc}); are you offline? Put the "
            "dataset in the datasets directory (RECLOOP_DATA_DIR) instead"
        ) from None
    return response.content


def _verify(payload: bytes, checksum: str, url: str) -> None:
    algorithm, _, expected = checksum.partition(":")
    actual = hashlib.new(algorithm, payload).hexdigest()
    if actual != expected.lower():
        raise FetchError(
            f"checksum mismatch for {url}: expected {algorithm} {expected}, got {actual}; "
            "nothing was written"
        )


def _unpack(payload: bytes, target: Path, rules: IngestSettings) -> None:
    """Extract the zip's data files into ``target`` and add the canonical CSV form."""
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            for member in archive.infolist():
                if member.is_dir() or ".." in Path(member.filename).parts:
                    continue
                (Path(scratch) / Path(member.filename).name).write_bytes(archive.read(member))
        dataset = read_dataset(scratch, rules)
        target.mkdir(parents=True, exist_ok=True)
        for path in Path(scratch).iterdir():
            shutil.copy2(path, target / path.name)
    write_canonical(dataset, target, rules)


def write_canonical(dataset: Dataset, directory: Path, rules: IngestSettings | None = None) -> None:
    """Write the canonical CSV form (the layout of ../shared/datasets), what exists only.

    Reading the files back (``read_dataset``) gives the same events and catalogue: the
    value is written as ``rating`` unless every event is an implicit interaction
    (``rules.implicit_event_type`` with ``rules.implicit_value``: no value column, as in
    MovieLens-1M); ``event_type`` only when the reader's default would not restore it;
    ``scenario``/``session_id``, ``year`` and ``genres`` only when some row has one.
    """
    rules = rules or IngestSettings()
    events = dataset.events
    out = events[[USER_COL, ITEM_COL]].copy()
    types = events[EVENT_TYPE_COL]
    implicit = (types == rules.implicit_event_type) & (events[VALUE_COL] == rules.implicit_value)
    if not implicit.all():
        rating = events[VALUE_COL]
        out["rating"] = rating.astype("int64") if (rating == rating.round()).all() else rating
        if not (types == rules.default_event_type).all():
            out[EVENT_TYPE_COL] = types
    out[TIMESTAMP_COL] = events[TIMESTAMP_COL]
    for column in (SCENARIO_COL, SESSION_COL):
        if column in events.columns and events[column].notna().any():
            out[column] = events[column]
    out.to_csv(directory / "interactions.csv", index=False)
    if dataset.items is not None:
        items = dataset.items
        columns = [ITEM_COL, *([TITLE_COL] if TITLE_COL in items else [])]
        columns += [c for c in (YEAR_COL, GENRES_COL) if c in items and _has_values(items[c])]
        items[columns].to_csv(directory / "items.csv", index=False)
    if dataset.users is not None:
        dataset.users.to_csv(directory / "users.csv", index=False)


def _has_values(column: pd.Series) -> bool:
    """Whether some value is present (not null, not empty text)."""
    present = column.notna() & (column.astype("string").str.strip() != "")
    return bool(present.any())
