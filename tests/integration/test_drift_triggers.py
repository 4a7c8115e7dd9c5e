"""Drift that acts, against a real Prefect server: the deployment triggers of flows/prefect.yaml.

``flows/prefect.yaml`` itself is deployed on a process work pool and run by a real worker.
The event store (PostgreSQL) holds real MovieLens-100k weeks, the newest one with inflated
ratings. Then, with no cron involved:

1. the monitor deployment finds the drift and emits ``recloop.drift.detected``; the
   deployment trigger starts the continual deployment, which trains and completes; the
   monitor's alert (to a real HTTP receiver) links that very run;
2. a second drift event inside the debounce period starts no second run, and the alert
   says why;
3. a batch file dropped into the inbox is ingested by ``inbox-watch`` (filed under
   ``processed/``), whose ``recloop.batch.ingested`` starts the continual deployment again,
   after the first run (one at a time); it completes.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from ..loop.conftest import TINY_TRAINING
from .test_server_mode import trigger

# Six flow runs on one worker: ~6 min on an idle 2-core box, 15 on a busy one.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.timeout(1800),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = "flows/prefect.yaml"
POOL = "recloop-process"  # the pool flows/prefect.yaml names
WEEK = 7 * 86_400
USERS = 200  # a real slice of MovieLens-100k: every event of the first 200 users
DRIFT_EVENT, BATCH_EVENT = "recloop.drift.detected", "recloop.batch.ingested"
SLOW = 300  # s: the most one flow run may take on a busy 2-core box (usually far less)


@pytest.fixture
def drifted_store(pg_url, movielens, tmp_path):
    """PostgreSQL store: MovieLens weeks 7-10 as they are, week 11 with inflated ratings.

    Returns the week-12 events, the batch that later lands in the inbox.
    """
    from recloop.data.ingest import ingest_frame
    from recloop.data.store import dispose_stores
    from recloop.drift.shifts import rating_inflation
    from recloop.settings import Settings

    events = movielens.events[movielens.events["user_id"] <= USERS]
    t0 = int(movielens.events["timestamp"].min())
    start, last = t0 + 7 * WEEK, t0 + 11 * WEEK
    before = events[(events["timestamp"] >= start) & (events["timestamp"] < last)]
    week = events[(events["timestamp"] >= last) & (events["timestamp"] < last + WEEK)]
    inflated, _ = rating_inflation(week, movielens.items, np.random.default_rng(0))
    columns = ["user_id", "item_id", "value", "timestamp"]
    settings = Settings(home=tmp_path / "loader", database_url=pg_url, ingest={"data_docs": False})
    ingest_frame(settings, movielens.items, "items")
    ingest_frame(settings, before[columns], "events")
    ingest_frame(settings, inflated[columns], "events")
    dispose_stores()
    nxt = events[(events["timestamp"] >= last + WEEK) & (events["timestamp"] < last + 2 * WEEK)]
    return nxt[columns]


def worker_env(pg_url: str, home: Path, cache: Path, gate_policy: Path, hook: str) -> dict:
    return {
        **TINY_TRAINING,
        "RECLOOP_PROJECT_DIR": str(REPO_ROOT),
        "RECLOOP_HOME": str(home),
        "RECLOOP_DATABASE_URL": pg_url,
        "RECLOOP_CACHE_DIR": str(cache),
        "RECLOOP_GATE__POLICY_FILE": str(gate_policy),
        "RECLOOP_INGEST__DATA_DOCS": "false",
        "RECLOOP_NOTIFY__APPRISE_URLS": json.dumps([hook]),
        "RECLOOP_NOTIFY__RETRIES": "0",
        "RECLOOP_NOTIFY__PREFECT_UI_URL": "https://prefect.example.org",
        "RECLOOP_NOTIFY__TRIGGERED_RUN_WAIT_SECONDS": "60",
    }


def permissive_gate(tmp_path: Path) -> Path:
    from recloop.settings import PACKAGE_DIR

    policy = yaml.safe_load((PACKAGE_DIR / "gate" / "gate_policy.yaml").read_text())
    policy["floors"] = {key: 1e-4 for key in policy["floors"]}
    policy["infrastructure"]["p95_latency_ms"] = 5000
    path = tmp_path / "gate_policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def continual_runs(prefect_api) -> list[dict]:
    """Runs of the continual flow that an event started (the crons' future runs left out)."""
    body = {"flows": {"name": {"any_": ["continual"]}}, "sort": "EXPECTED_START_TIME_ASC"}
    runs = prefect_api.post("flow_runs/filter", json=body).raise_for_status().json()
    return [r for r in runs if r["parameters"].get("trigger")]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout:.0f} s")


def test_drift_and_new_data_start_the_continual_deployment_through_its_triggers(
    servers, prefect_cli, process_worker, prefect_api, wait_flow_run, pg_url,
    drifted_store, receiver, tmp_path, embedding_cache_dir,
):  # fmt: skip
    started = time.monotonic()
    home = tmp_path / "home"
    env = worker_env(
        pg_url, home, embedding_cache_dir, permissive_gate(tmp_path), receiver.url("drift")
    )
    prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite")
    prefect_cli("deploy", "--all", "--prefect-file", PREFECT_FILE, env=env)
    # The monitor's real cron (minute 15 of every hour) would start a run of its own while
    # the test triggers it by hand, and its CANCEL_NEW concurrency rule then cancels the
    # test's run: pause that cron (inbox-watch's interval schedule stays: step 3 needs it).
    for deployment in prefect_api.post("deployments/filter", json={}).raise_for_status().json():
        if deployment["name"] != "drift-monitor-hourly":
            continue
        for schedule in deployment["schedules"]:
            prefect_api.patch(
                f"deployments/{deployment['id']}/schedules/{schedule['id']}",
                json={"active": False},
            ).raise_for_status()
    automations = prefect_api.post("automations/filter", json={}).raise_for_status().json()
    expects = sorted(e for a in automations for e in a["trigger"].get("expect", []))
    assert expects == [BATCH_EVENT, DRIFT_EVENT]  # `prefect automation ls` is not empty
    process_worker(POOL, env=env)

    # 1. Drift -> event -> the continual deployment runs, and the alert links that run.
    monitor_id = trigger(prefect_cli, "recloop-drift-monitor/drift-monitor-hourly", {})
    monitor = wait_flow_run(monitor_id, timeout=SLOW)
    assert monitor["state_type"] == "COMPLETED", monitor["state"]
    (drift_run,) = wait_for(lambda: continual_runs(prefect_api), 120, "a drift-triggered run")
    assert drift_run["parameters"]["trigger"].startswith(DRIFT_EVENT + " ")
    assert drift_run["deployment_id"] and not drift_run["auto_scheduled"]
    deployment = prefect_api.get(f"deployments/{drift_run['deployment_id']}").json()
    assert deployment["name"] == "continual-daily"
    (alert,) = [body for path, body in receiver.requests if path == "/drift"]
    assert alert["title"].startswith("recloop drift detected: "), alert
    assert "Decision: retrain (" in alert["message"], alert["message"]
    link = f"https://prefect.example.org/runs/flow-run/{drift_run['id']}"
    assert f"Next: retraining now: flow run {drift_run['name']} " in alert["message"]
    assert link in alert["message"]

    # 2. Drift again inside the debounce period: no second run, and the alert says so.
    again_id = trigger(prefect_cli, "recloop-drift-monitor/drift-monitor-hourly", {})
    again = wait_flow_run(again_id, timeout=SLOW)
    assert again["state_type"] == "COMPLETED", again["state"]

    # 3. A batch lands in the inbox: inbox-watch ingests it, its event starts the loop.
    inbox = home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    landed = time.monotonic()
    landed_at = datetime.now(UTC)
    drifted_store.to_csv(inbox / "events-week12.csv.part", index=False)
    (inbox / "events-week12.csv.part").rename(inbox / "events-week12.csv")  # lands whole

    first = wait_flow_run(drift_run["id"], timeout=2 * SLOW)
    assert first["state_type"] == "COMPLETED", first["state"]
    runs = wait_for(lambda: continual_runs(prefect_api)[1:], SLOW, "a data-triggered run")
    (data_run,) = runs
    assert data_run["parameters"]["trigger"].startswith(BATCH_EVENT + " ")
    done = wait_flow_run(data_run["id"], timeout=2 * SLOW)
    freshness = time.monotonic() - landed
    assert done["state_type"] == "COMPLETED", done["state"]
    assert done["start_time"] >= first["end_time"]  # one at a time (concurrency_limit 1)
    assert not (inbox / "events-week12.csv").exists()
    (filed,) = (inbox / "processed").iterdir()
    assert re.fullmatch(r"[0-9a-f]{12}-events-week12\.csv", filed.name)

    # The debounced drift event started nothing: still exactly one drift-triggered run.
    triggers = [r["parameters"].get("trigger", "") for r in continual_runs(prefect_api)]
    assert sum(t.startswith(DRIFT_EVENT) for t in triggers) == 1, triggers
    # The second monitor said why (its alert was, rightly, the same episode: no page).
    logs = prefect_api.post(
        "logs/filter", json={"logs": {"flow_run_id": {"any_": [again["id"]]}}}
    ).raise_for_status()
    said = " ".join(entry["message"] for entry in logs.json())
    assert "Next: no second retrain (debounced for 6 h after the last)" in said, said[-2000:]
    assert link in said  # the earlier run, by its link (its name now tells its outcome)
    report_freshness(prefect_api, landed_at, drift_run["id"], done, freshness)
    print(f"whole test {time.monotonic() - started:.1f} s")


def report_freshness(prefect_api, landed_at, drift_run_id: str, done: dict, seen: float) -> None:
    """Print where the time from a landed batch to the gated decision went (Prefect's own
    timestamps), and what it comes to on an idle loop (without waiting for another run)."""
    body = {"flows": {"name": {"any_": ["recloop-ingest"]}}, "sort": "START_TIME_ASC"}
    ingests = prefect_api.post("flow_runs/filter", json=body).raise_for_status().json()
    ingest = next(r for r in ingests if r["start_time"] and _t(r["start_time"]) >= landed_at)
    drift = prefect_api.get(f"flow_runs/{drift_run_id}").json()
    watch_wait = (_t(ingest["start_time"]) - landed_at).total_seconds()
    ingest_s = (_t(ingest["end_time"]) - _t(ingest["start_time"])).total_seconds()
    to_trigger = (_t(done["created"]) - _t(ingest["end_time"])).total_seconds()
    pickup = (_t(drift["start_time"]) - _t(drift["created"])).total_seconds()
    idle = watch_wait + ingest_s + to_trigger + pickup + done["total_run_time"]
    print(
        f"\nbatch landed -> gated decision: {seen:.1f} s seen (behind the drift run); idle "
        f"loop {idle:.1f} s = inbox-watch wait {watch_wait:.1f} + ingest run {ingest_s:.1f} + "
        f"event->triggered run {to_trigger:.1f} + worker pick-up {pickup:.1f} + continual run "
        f"{done['total_run_time']:.1f}"
    )


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
