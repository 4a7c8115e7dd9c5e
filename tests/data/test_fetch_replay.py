"""`recloop data fetch` against a local HTTP server, and `recloop replay` batches that re-ingest."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import socket
import threading
import zipfile
from functools import partial

import pandas as pd
import pytest

from recloop.data.ingest import ingest_path
from recloop.data.readers import read_dataset
from recloop.data.store import load_events


@pytest.fixture
def served_zip(movielens, grouplens_writers, tmp_path):
    """A GroupLens-style ml-100k.zip (real rows, 300 events) served on 127.0.0.1."""
    write_ml100k = grouplens_writers["ml-100k"]

    events = movielens.events.iloc[:300]
    items = movielens.items[movielens.items.item_id.isin(events.item_id)]
    users = movielens.users[movielens.users.user_id.isin(events.user_id)]
    write_ml100k(tmp_path / "ml-100k", events, items.reset_index(drop=True), users)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((tmp_path / "ml-100k").iterdir()):
            archive.write(path, f"ml-100k/{path.name}")
    root = tmp_path / "www"
    root.mkdir()
    (root / "ml-100k.zip").write_bytes(buffer.getvalue())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/ml-100k.zip", buffer.getvalue(), events
    server.shutdown()
    server.server_close()


def _sources_env(monkeypatch, url, checksum):
    monkeypatch.setenv(
        "RECLOOP_INGEST__DATASET_SOURCES", json.dumps({"movielens-100k": [url, checksum]})
    )


def test_fetch_downloads_verifies_and_unpacks(recloop, served_zip, monkeypatch, tmp_path):
    url, payload, events = served_zip
    monkeypatch.setenv("RECLOOP_DATA_DIR", str(tmp_path / "datasets"))
    _sources_env(monkeypatch, url, "md5:" + hashlib.md5(payload).hexdigest())
    result = recloop("data", "fetch", "movielens-100k", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.report["status"] == "fetched"
    target = tmp_path / "datasets" / "movielens-100k"
    assert (target / "u.data").exists() and (target / "interactions.csv").exists()
    pd.testing.assert_frame_equal(
        read_dataset(target).events, events.reset_index(drop=True), check_dtype=False
    )
    assert recloop("data", "fetch", "movielens-100k", "--json").report["status"] == "present"


def test_fetch_rejects_a_bad_checksum(recloop, served_zip, monkeypatch, tmp_path):
    url, _, _ = served_zip
    monkeypatch.setenv("RECLOOP_DATA_DIR", str(tmp_path / "datasets"))
    _sources_env(monkeypatch, url, "md5:" + "0" * 32)
    result = recloop("data", "fetch", "movielens-100k")
    assert result.exit_code == 2
    assert "checksum mismatch" in result.stderr
    assert not (tmp_path / "datasets" / "movielens-100k").exists()


def test_fetch_offline_says_so(recloop, monkeypatch, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RECLOOP_DATA_DIR", str(tmp_path / "datasets"))
    _sources_env(monkeypatch, f"http://127.0.0.1:{port}/ml-100k.zip", "md5:" + "0" * 32)
    result = recloop("data", "fetch", "movielens-100k")
    assert result.exit_code == 2
    assert "offline" in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_named_dataset_resolves_through_the_data_dir(recloop, tmp_path, monkeypatch):
    result = recloop("replay", "no-such-dataset", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "not found" in result.stderr
    assert "fetch" not in result.stderr  # no download source: fetching would only fail again
    monkeypatch.setenv("RECLOOP_DATA_DIR", str(tmp_path / "empty"))
    result = recloop("replay", "movielens-100k", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "recloop data fetch movielens-100k" in result.stderr


def test_replay_batches_are_time_ordered_and_reingest(recloop, movielens, tmp_path, workspace):
    out = tmp_path / "replay"
    result = recloop("replay", "movielens-100k", "--every", "7d", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    manifest = result.report
    assert manifest["events"] == 100_000
    assert sum(b["events"] for b in manifest["batches"]) == 100_000
    previous_end = None
    for batch in manifest["batches"]:
        frame = pd.read_csv(out / batch["file"])
        assert frame["timestamp"].between(batch["start"], batch["end"] - 1).all()
        assert frame["timestamp"].is_monotonic_increasing
        assert previous_end is None or batch["start"] >= previous_end
        previous_end = batch["end"]
    assert (out / "items.csv").exists()
    items = ingest_path(workspace, out / "items.csv", "items")
    assert (items.status, items.accepted) == ("accepted", 1682)
    for batch in manifest["batches"][:2]:
        report = ingest_path(workspace, out / batch["file"])
        assert (report.status, report.accepted) == ("accepted", batch["events"])
    stored = load_events(workspace)
    assert len(stored) == sum(b["events"] for b in manifest["batches"][:2])
    assert stored["timestamp"].max() < manifest["batches"][1]["end"]


def test_replay_rejects_a_bad_period(recloop, tmp_path):
    result = recloop("replay", "movielens-100k", "--every", "weekly", "--out", tmp_path)
    assert result.exit_code == 2 and "bad period" in result.stderr
