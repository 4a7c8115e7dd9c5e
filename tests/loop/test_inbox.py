"""The inbox empties as it is ingested: stored batches to processed/, rejected ones to
rejected/, with their batch ids; no file is ever lost, whatever its name."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recloop.loop.inbox import MAX_NAME_BYTES, _move, filed_name, inbox_dir
from recloop.loop.ingest import ingest_batches
from recloop.loop.plan import inbox_files


def drop(settings, name: str, text: str) -> Path:
    inbox = inbox_dir(settings)
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(text)
    return path


def test_ingested_files_leave_the_inbox_under_their_batch_ids(workspace, movielens_dir):
    lines = (movielens_dir / "interactions.csv").read_text().splitlines()
    items = drop(workspace, "items.csv", (movielens_dir / "items.csv").read_text())
    week = drop(workspace, "events-0001.csv", "\n".join(lines[:501]) + "\n")
    bad = lines[:1] + [line.rsplit(",", 2)[0] + ",99,1000000" for line in lines[1:201]]
    rejected = drop(workspace, "events-0002.csv", "\n".join(bad) + "\n")
    garbage = drop(workspace, "events-0003.csv", "no,batch,here\n1,2,3\n")

    reports = ingest_batches(workspace, inbox_files(workspace))

    assert inbox_files(workspace) == []  # nothing left to re-read next run
    by_name = {Path(r.source).name: r for r in reports}
    assert {n: r.status for n, r in by_name.items()} == {
        "items.csv": "accepted", "events-0001.csv": "accepted", "events-0002.csv": "rejected",
    }  # fmt: skip
    processed = sorted(p.name for p in (inbox_dir(workspace) / "processed").iterdir())
    assert processed == sorted(
        f"{by_name[n].batch_id[:12]}-{n}" for n in ("items.csv", "events-0001.csv")
    )
    filed = sorted(p.name for p in (inbox_dir(workspace) / "rejected").iterdir())
    assert f"{by_name['events-0002.csv'].batch_id[:12]}-events-0002.csv" in filed
    unreadable = [n for n in filed if n.endswith("-events-0003.csv")]
    assert len(unreadable) == 1 and f"{unreadable[0]}.reason" in filed
    assert len(filed) == 3
    # Moved, not rewritten: the bytes are the ones that were dropped.
    week_id = by_name["events-0001.csv"].batch_id[:12]
    moved = inbox_dir(workspace) / "processed" / f"{week_id}-events-0001.csv"
    assert moved.read_text() == "\n".join(lines[:501]) + "\n"
    assert not any(p.exists() for p in (items, week, rejected, garbage))


def test_the_same_file_dropped_twice_is_kept_twice(workspace, movielens_dir):
    lines = (movielens_dir / "interactions.csv").read_text().splitlines()
    text = "\n".join(lines[:101]) + "\n"
    drop(workspace, "items.csv", (movielens_dir / "items.csv").read_text())
    drop(workspace, "events.csv", text)
    first = ingest_batches(workspace, inbox_files(workspace))
    drop(workspace, "events.csv", text)
    (second,) = ingest_batches(workspace, inbox_files(workspace))
    assert second.status == "duplicate"
    batch = next(r for r in first if r.kind == "events").batch_id
    names = sorted(p.name for p in (inbox_dir(workspace) / "processed").iterdir())
    assert f"{batch[:12]}-events.csv" in names and f"{batch[:12]}.2-events.csv" in names
    copies = [p for p in (inbox_dir(workspace) / "processed").iterdir() if "events" in p.name]
    assert [p.read_text() for p in copies] == [text, text]


FILE_NAMES = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=120,
).filter(lambda n: n not in {".", ".."} and len(n.encode()) <= MAX_NAME_BYTES)
BATCH_IDS = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=FILE_NAMES, batch_id=BATCH_IDS, contents=st.lists(st.binary(), min_size=1, max_size=4))
def test_no_file_is_lost_whatever_its_name(name, batch_id, contents):
    """Files of one name dropped one after another all survive filing, byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        inbox, folder = Path(tmp) / "inbox", Path(tmp) / "inbox" / "processed"
        inbox.mkdir()
        targets = []
        for content in contents:
            source = inbox / name
            source.write_bytes(content)
            targets.append(_move(source, folder, batch_id))
            assert not source.exists()
        assert len(set(targets)) == len(contents)
        assert sorted(t.read_bytes() for t in targets) == sorted(contents)
        assert sorted(os.listdir(folder)) == sorted(t.name for t in targets)
        for copy, target in enumerate(targets, start=1):
            assert target.name == filed_name(batch_id, name, copy)
            assert len(os.fsencode(target.name)) <= MAX_NAME_BYTES


@given(name=FILE_NAMES, batch_id=BATCH_IDS, copy=st.integers(1, 10_000))
def test_filed_names_keep_the_id_the_name_and_its_suffix(name, batch_id, copy):
    filed = filed_name(batch_id, name, copy)
    prefix = batch_id[:12] + (f".{copy}" if copy > 1 else "") + "-"
    assert filed.startswith(prefix) and "/" not in filed
    assert len(os.fsencode(filed)) <= MAX_NAME_BYTES
    rest = filed[len(prefix) :]
    if len(os.fsencode(prefix + name)) <= MAX_NAME_BYTES:
        assert rest == name
    else:  # shortened in its stem; a short suffix (".csv") survives
        stem, dot, suffix = name.rpartition(".")
        if stem and len((dot + suffix).encode()) <= 16:
            assert rest.endswith(dot + suffix)
