"""The inbox: batch files land in ``<home>/inbox``; once ingested they leave it.

A file the store took (accepted, partial, or a duplicate of a stored batch) moves to
``inbox/processed/<batch id>-<name>``, one it rejected (too many bad rows, or a file that
cannot be read as a batch at all) to ``inbox/rejected/<id>-<name>``, with the reason next to
it for an unreadable one. So each run reads only what is new, and every file stays
findable by the batch id the ingest log and the model's lineage record.

Never lose a file: the target name is reserved atomically (``O_CREAT | O_EXCL``) and the
file is renamed over the reservation, so two files with one name and id (the same content
dropped twice) get ``<id>.2-<name>`` and so on, and a name too long for the file system
is shortened in its stem, never in its suffix. A file another process filed meanwhile is
left to it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from recloop.settings import Settings

logger = logging.getLogger(__name__)
PROCESSED, REJECTED = "processed", "rejected"
ID_CHARS = 12  # of the 64-hex batch id: unique enough among one workspace's files
MAX_NAME_BYTES = 255  # a file name's limit on Linux/macOS file systems
KEEP_SUFFIX_BYTES = 16
STORED_STATUSES = ("accepted", "partial", "duplicate")  # the store has the batch's rows


def inbox_dir(settings: Settings) -> Path:
    """``<home>/inbox`` (the continual loop's default source of batch files)."""
    return settings.home_dir / "inbox"


def in_inbox(settings: Settings, path: str | Path) -> bool:
    """Whether ``path`` lies directly in the inbox (its subfolders are the archive)."""
    return Path(path).resolve().parent == inbox_dir(settings).resolve()


def filed_name(batch_id: str, name: str, copy: int = 1) -> str:
    """``<id>-<name>`` (``<id>.<copy>-<name>`` for later copies), within ``MAX_NAME_BYTES``."""
    prefix = batch_id[:ID_CHARS] + (f".{copy}" if copy > 1 else "") + "-"
    room = MAX_NAME_BYTES - len(prefix.encode())
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) > room:
        stem, dot, suffix = name.rpartition(".")
        tail = (dot + suffix).encode("utf-8", "surrogateescape") if stem else b""
        if len(tail) > KEEP_SUFFIX_BYTES:
            tail = b""
        raw = raw[: len(raw) - len(tail)][: room - len(tail)] + tail
    return prefix + raw.decode("utf-8", "surrogateescape")


def file_batch(settings: Settings, path: str | Path, batch_id: str, status: str) -> Path | None:
    """Move an ingested inbox file to ``processed/`` or ``rejected/`` by its status.

    Returns:
        Path | None: where it went; None when another process filed it first.
    """
    folder = PROCESSED if status in STORED_STATUSES else REJECTED
    return _move(Path(path), inbox_dir(settings) / folder, batch_id)


def reject_unreadable(settings: Settings, path: str | Path, reason: str) -> Path | None:
    """Move a file that is no batch at all to ``rejected/``, its reason in ``<name>.reason``.

    Its id is the SHA-256 of its bytes (ingest could not give it a batch id).
    """
    path = Path(path)
    try:
        digest = _sha256(path)
    except FileNotFoundError:
        return None
    target = _move(path, inbox_dir(settings) / REJECTED, digest)
    if target is not None:
        target.with_name(target.name + ".reason").write_text(reason + "\n")
        logger.error("rejected %s: %s (moved to %s)", path.name, reason, target)
    return target


def _move(path: Path, folder: Path, batch_id: str) -> Path | None:
    folder.mkdir(parents=True, exist_ok=True)
    copy = 1
    while True:
        target = folder / filed_name(batch_id, path.name, copy)
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            copy += 1
            continue
        try:
            os.replace(path, target)
        except FileNotFoundError:  # filed by another process meanwhile
            target.unlink(missing_ok=True)
            return None
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
