"""What each ingested batch came to, shown on the Data Docs pages.

GX's pages show each expectation's unexpected values per validated chunk, not what recloop
did with the rows: how many were received, accepted, quarantined (and why) or dropped as
duplicates. Those figures are appended, one JSON line per batch, to a ledger
(``<home>/gx/uncommitted/recloop_batches.jsonl``) and drawn as plain HTML (no script, so
nothing can leave them blank): a table of the latest batches at the top of the index, and
the batch's own figures at the top of each of its validation pages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from recloop.pages import render

LEDGER_NAME = "recloop_batches.jsonl"
INDEX_BATCHES = 200  # the index lists this many of the latest batches
_START, _END = "<!-- recloop-batches -->", "<!-- /recloop-batches -->"
_BLOCK = re.compile(re.escape(_START) + ".*?" + re.escape(_END), re.DOTALL)
# GX's main column (page.j2, index_page.j2); the figures go first in it.
_CONTENT_COLUMN = re.compile(r'<div class="col-md-10[^"]*">')
# Bootstrap colour of each ingest status.
STATUS_TONE = {"accepted": "success", "partial": "warning", "rejected": "danger"}


@dataclass(frozen=True)
class BatchSummary:
    """One batch's outcome as the ingest reported it (``received = accepted + ...``)."""

    kind: str
    batch_id: str
    source: str
    status: str
    received: int
    accepted: int
    quarantined: int
    duplicates: int
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason -> rows
    warnings: dict[str, int] = field(default_factory=dict)  # kept rows' warnings -> rows


def ledger_entry(batch: BatchSummary, ingested_at: dt.datetime, pages: list[str]) -> dict:
    """The ledger line of ``batch``; ``pages``: its validation pages, site-relative."""
    return {
        **asdict(batch),
        "ingested_at": ingested_at.strftime("%Y-%m-%d %H:%M:%S"),
        "pages": pages,
    }


def append_entry(ledger: Path, entry: dict) -> None:
    """Add one line to the ledger (one short append: concurrent ingests do not mix lines)."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with ledger.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def latest_entries(ledger: Path, count: int = INDEX_BATCHES) -> tuple[list[dict], int]:
    """The last ``count`` entries, newest first, and how many older ones were left out.

    A line cut short (a process killed while writing it) is skipped.
    """
    latest: deque[dict] = deque(maxlen=count)
    total = 0
    if ledger.exists():
        with ledger.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    latest.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
                total += 1
    return list(reversed(latest)), total - len(latest)


def show_on_index(index: Path, ledger: Path) -> None:
    """Put the table of the latest batches at the top of the Data Docs index."""
    entries, older = latest_entries(ledger)
    table = render(
        "data_docs_batches.html.j2", batches=entries, older=older, root=".", tone=STATUS_TONE
    )
    _insert(index, table)


def show_on_pages(pages: list[Path], site_dir: Path, entry: dict) -> None:
    """Put the batch's figures at the top of each of its validation pages."""
    for number, page in enumerate(pages, start=1):
        root = Path(*[".."] * len(page.parent.relative_to(site_dir).parts)).as_posix()
        banner = render(
            "data_docs_batch_banner.html.j2",
            batch=entry,
            chunk=number,
            chunks=len(pages),
            root=root,
            tone=STATUS_TONE,
        )
        _insert(page, banner)


def _insert(page: Path, block: str) -> None:
    """Replace an earlier recloop block of ``page`` with ``block``, or add it."""
    html = _BLOCK.sub("", page.read_text(encoding="utf-8"))
    wrapped = f"{_START}\n{block}\n{_END}"
    column = _CONTENT_COLUMN.search(html) or re.search(r"<body[^>]*>", html)
    at = column.end() if column else 0
    html = html[:at] + wrapped + html[at:]
    page.write_text(html, encoding="utf-8")
