"""A copied workspace serves its champion from the new place, with the old one gone.

MLflow's SQLite store records absolute artifact locations; recloop rewrites them when it
opens a workspace that moved (``recloop.tracking.relocate``). Real data (120 MovieLens
users, four weeks), a tiny real model, the real ``recloop serve`` process.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ..loop.conftest import TINY_TRAINING, WEEK

pytestmark = [pytest.mark.slow]


@pytest.fixture
def trained_workspace(movielens, tmp_path, monkeypatch, embedding_cache_dir) -> Path:
    """A workspace whose champion is a tiny model trained on real events."""
    from recloop import registry
    from recloop.data.ingest import ingest_path
    from recloop.loop.train import store_training_job, train_and_register
    from recloop.settings import Settings

    for key, value in TINY_TRAINING.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RECLOOP_CACHE_DIR", str(embedding_cache_dir))
    monkeypatch.delenv("RECLOOP_REGISTRY__TRACKING_URI", raising=False)
    home = tmp_path / "original-home"
    events = movielens.events[movielens.events["user_id"] <= 120]
    t0 = int(events["timestamp"].min())
    events = events[events["timestamp"] < t0 + 4 * WEEK]
    items = movielens.items[movielens.items["item_id"].isin(events["item_id"])]
    batches = tmp_path / "batches"
    batches.mkdir()
    items.to_csv(batches / "items.csv", index=False)
    events.to_csv(batches / "events.csv", index=False)
    settings = Settings(home=home)
    for name in ("items.csv", "events.csv"):
        ingest_path(settings, batches / name)
    candidate = train_and_register(settings, store_training_job(settings))
    registry.set_version_tags(
        settings, candidate.version, {registry.TAG_GATE_DECISION: registry.PASSED}
    )
    registry.promote(settings, candidate.version)  # loads and answers first (load check)
    return home


def serve_once(home: Path, history: list[int], log: Path) -> dict:
    """Start ``recloop serve`` on ``home``'s champion, score one request, stop it."""
    import httpx

    from ..serving.test_pyfunc import _free_port

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RECLOOP_"))}
    env.update(RECLOOP_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    source = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "recloop.cli.main", "serve", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail(f"recloop serve never answered /ping: {log.read_text()[-3000:]}")
        body = {"dataframe_records": [{"history": history}], "params": {"k": 5}}
        answer = httpx.post(f"{base}/invocations", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_a_copied_workspace_serves_its_champion_with_the_original_gone(
    trained_workspace, tmp_path, movielens
):
    import mlflow

    from recloop.registry import get_champion
    from recloop.registry.describe import LINEAGE_ARTIFACT, load_run_json
    from recloop.settings import Settings
    from recloop.tracking import configure_mlflow

    original = trained_workspace
    copy = tmp_path / "copied-home"
    shutil.copytree(original, copy)
    original.rename(tmp_path / "original-renamed")  # any reference to it now fails

    # Served by the real server process, from the copy alone, on its first open.
    history = movielens.events["item_id"].head(5).astype(int).tolist()
    answer = serve_once(copy, history, tmp_path / "serve.log")
    (prediction,) = answer["predictions"]
    assert len(prediction["item_ids"]) == 5

    # No location in the store names the original place any more.
    with sqlite3.connect(copy / "mlflow.db") as db:
        dump = "\n".join(db.iterdump())
    assert str(original) + "/" not in dump
    assert f"{copy.as_uri()}/mlartifacts" in dump

    # Artifacts read from the copy; new runs log into the copy.
    settings = Settings(home=copy)
    champion = get_champion(settings)
    lineage = load_run_json(champion.run_id, LINEAGE_ARTIFACT)
    assert lineage["train_mode"] == "full" and lineage["events"] > 1000
    configure_mlflow(settings)
    with mlflow.start_run(run_name="after the move") as run:
        mlflow.log_text("written after the move", "note.txt")
    assert run.info.artifact_uri.startswith(f"{copy.as_uri()}/mlartifacts/")
    assert (copy / "mlartifacts" / run.info.run_id / "artifacts" / "note.txt").exists()


def test_rewrite_touches_whole_path_segments_only(tmp_path):
    """``/ws1`` must not rewrite ``/ws10``: only the old root and paths below it move."""
    from recloop.tracking.relocate import rewrite_store

    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE experiments (name TEXT, artifact_location TEXT)")
        con.execute("CREATE TABLE runs (run_uuid TEXT, artifact_uri TEXT)")
        con.executemany(
            "INSERT INTO experiments VALUES (?, ?)",
            [("recloop", "file:///old/ws1/mlartifacts"), ("Default", "file:///cwd/mlruns/0")],
        )
        con.executemany(
            "INSERT INTO runs VALUES (?, ?)",
            [
                ("a", "file:///old/ws1/mlartifacts/a/artifacts"),
                ("b", "file:///old/ws1/mlartifacts0/b/artifacts"),
                ("c", "mlflow-artifacts:/1/c/artifacts"),
            ],
        )
    (move,) = rewrite_store(db, "file:///new/place/mlartifacts")
    assert (move.old_root, move.rewritten) == ("file:///old/ws1/mlartifacts", 2)
    with sqlite3.connect(db) as con:
        runs = dict(con.execute("SELECT run_uuid, artifact_uri FROM runs"))
        experiments = dict(con.execute("SELECT name, artifact_location FROM experiments"))
    assert runs == {
        "a": "file:///new/place/mlartifacts/a/artifacts",
        "b": "file:///old/ws1/mlartifacts0/b/artifacts",
        "c": "mlflow-artifacts:/1/c/artifacts",
    }
    assert experiments["Default"] == "file:///cwd/mlruns/0"
    assert rewrite_store(db, "file:///new/place/mlartifacts") == []  # idempotent


SEGMENT = st.text(alphabet="abcXYZ019-_. ", min_size=1, max_size=8).filter(
    lambda s: s.strip(".") != ""
)


@settings(max_examples=40, deadline=None)
@given(
    old=st.lists(SEGMENT, min_size=1, max_size=3),
    new=st.lists(SEGMENT, min_size=1, max_size=3),
    tails=st.lists(st.lists(SEGMENT, max_size=3), min_size=1, max_size=4),
    suffix=SEGMENT,
)
def test_rewrite_maps_exactly_the_paths_under_the_old_root(
    tmp_path_factory, old, new, tails, suffix
):
    """Property: a location under the old root moves with its tail intact; a sibling whose
    name merely starts with the root's (``mlartifacts<suffix>``) never moves."""
    from recloop.tracking.relocate import rewrite_store

    old_root = "file:///" + "/".join(old) + "/mlartifacts"
    new_root = "file:///" + "/".join(["n", *new]) + "/mlartifacts"
    db = tmp_path_factory.mktemp("prop") / "mlflow.db"
    under = [old_root + "".join("/" + t for t in tail) for tail in tails]
    sibling = old_root + suffix
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE experiments (artifact_location TEXT)")
        con.execute("CREATE TABLE runs (artifact_uri TEXT)")
        con.execute("INSERT INTO experiments VALUES (?)", (old_root,))
        con.executemany("INSERT INTO runs VALUES (?)", [(u,) for u in [*under, sibling]])
    rewrite_store(db, new_root)
    with sqlite3.connect(db) as con:
        runs = [row[0] for row in con.execute("SELECT artifact_uri FROM runs ORDER BY rowid")]
    assert runs[:-1] == [new_root + u[len(old_root) :] for u in under]
    assert runs[-1] == sibling
