"""Named datasets: find them locally first, fetch them from GroupLens when asked.

``resolve_dataset(settings, "movielens-100k")`` looks in ``settings.datasets_dir`` (set
``RECLOOP_DATA_DIR=../shared/datasets`` to use a shared copy offline) and accepts a plain
directory path too. ``fetch_dataset`` downloads the zip named in
``settings.ingest.dataset_sources``, verifies its checksum before unpacking, and writes the
canonical CSV form (``interactions.csv``, ``items.csv``, ``users.csv``) next to the
original files, so both layouts read the same afterwards.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from recloop.data.readers import Dataset, read_dataset
from recloop.errors import NotFoundError, RecloopError
from recloop.settings import Settings


class FetchError(RecloopError):
    """The download failed (offline, HTTP error) or its checksum did not match."""

    exit_code = 2


def resolve_dataset(settings: Settings, name_or_path: str | Path) -> Path:
    """The directory of a named dataset (datasets dir first) or of an explicit path."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        return candidate.resolve()
    named = settings.datasets_dir / str(name_or_path)
    if named.is_dir():
        return named
    raise NotFoundError(
        f"dataset {name_or_path!r} not found in {settings.datasets_dir}; run "
        f"`recloop data fetch {name_or_path}` or set RECLOOP_DATA_DIR to a folder holding it"
    )


def load_dataset(settings: Settings, name_or_path: str | Path) -> Dataset:
    """Read a named dataset (any supported layout) as canonical tables."""
    return read_dataset(resolve_dataset(settings, name_or_path))


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
    _unpack(payload, target)
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


def _unpack(payload: bytes, target: Path) -> None:
    """Extract the zip's data files into ``target`` and add the canonical CSV form."""
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            for member in archive.infolist():
                if member.is_dir() or ".." in Path(member.filename).parts:
                    continue
                (Path(scratch) / Path(member.filename).name).write_bytes(archive.read(member))
        dataset = read_dataset(scratch)
        target.mkdir(parents=True, exist_ok=True)
        for path in Path(scratch).iterdir():
            shutil.copy2(path, target / path.name)
    write_canonical(dataset, target)


def write_canonical(dataset: Dataset, directory: Path) -> None:
    """Write the canonical CSV form (the layout of ../shared/datasets/movielens-100k)."""
    events = dataset.events.rename(columns={"value": "rating"})
    events = events[["user_id", "item_id", "rating", "timestamp"]]
    if (events["rating"] == events["rating"].round()).all():
        events = events.astype({"rating": "int64"})
    events.to_csv(directory / "interactions.csv", index=False)
    if dataset.items is not None:
        dataset.items[["item_id", "title", "year", "genres"]].to_csv(
            directory / "items.csv", index=False
        )
    if dataset.users is not None:
        dataset.users.to_csv(directory / "users.csv", index=False)
