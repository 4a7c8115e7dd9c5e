"""Every stage of a loop step at 1M/5M/20M stored events, on PostgreSQL and SQLite (prints).

    .venv/bin/python benchmarks/stage_benchmark.py                          # 1m 5m, both
    .venv/bin/python benchmarks/stage_benchmark.py --sizes 1m --backends postgresql
    .venv/bin/python benchmarks/stage_benchmark.py --sizes 20m --stages ingest_window drift_window

The log: MovieLens-1M grown with new users and new items (``resample.grown_log``, 30% of
the catalogue gets a new edition per user copy), re-timed to a steady ``--per-day`` events a
day (default 13,700: 5M events a year). The first N events are stored (bulk-loaded; not
timed), then one day (the freshness batch) and a 1M-event window follow in time.

Stages, each in its own child process (peak RSS is the stage's own, imports included;
seconds exclude imports, as in a loop worker that has them loaded):

- ``ingest_window``: ``ingest_path`` of the 1M-event window CSV (read, Great Expectations
  validation, duplicate decision, COPY / executemany, ingest log, Data Docs);
- ``drift_window``: ``stages.check_drift`` of that window against the champion's training
  window (at most ``drift.max_reference_events`` = 1M newest events) with the champion's model
  features and the HTML/JSON report, as the loop runs it; the window is then deleted;
- ``ingest_day``, ``drift_day``: the same for the one-day batch;
- ``prepare``: ``plan_step`` + ``new_event_count`` + the training window, the replay/context
  read and the gate's holdout cases (every store read a step makes before training);
- ``finetune``: ``stages.train_candidate`` (incremental defaults, frozen encoder, CPU),
  which includes registering the challenger;
- ``gate``: ``stages.gate_candidate``; ``conclude``: the decision recorded and, when it
  passed, promotion (with its load check); ``serve``: load the champion + one request.

``freshness`` is the sum ingest_day + prepare + drift_day + finetune + gate + conclude:
the time from the day's file arriving to a gated decision. The loop's holdout is set to
``--holdout-days`` (0.25) so a one-day batch has a training part and a holdout.
Timings are wall clock on a shared machine: upper bounds when it is loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch_db import fresh_pg_database  # benchmarks/, beside this script

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
SIZES = {"1m": 1_000_000, "5m": 5_000_000, "20m": 20_000_000}
WINDOW = 1_000_000
STAGES = (
    "ingest_window",
    "drift_window",
    "ingest_day",
    "prepare",
    "drift_day",
    "finetune",
    "gate",
    "conclude",
    "serve",
)
FRESHNESS = ("ingest_day", "prepare", "drift_day", "finetune", "gate", "conclude")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _settings():
    from recloop.settings import Settings

    return Settings()  # RECLOOP_HOME, RECLOOP_DATABASE_URL... come from the child's env


# ---- setup (not timed) ------------------------------------------------------------------


def setup(
    scratch: Path, n_stored: int, per_day: int, bootstrap_events: int, champion: bool = True
) -> dict:
    """Write the batch files, bulk-load the stored events, train and promote a champion.

    ``champion=False`` (only ingest stages asked for) skips the champion's training.
    """
    import sqlalchemy as sa

    from recloop.data import schema, store
    from resample import grown_log, uniform_time

    events, items = grown_log(n_stored + per_day + WINDOW, new_item_share=0.3)
    events = uniform_time(events, per_day)
    stored = events.iloc[:n_stored]
    day = events.iloc[n_stored : n_stored + per_day]
    window = events.iloc[n_stored + per_day :]
    day.to_csv(scratch / "day.csv", index=False)
    window.to_csv(scratch / "window.csv", index=False)
    items.to_csv(scratch / "items.csv", index=False)
    settings = _settings()
    engine = store.open_store(settings)
    first_seen = stored.groupby("item_id")["timestamp"].min()
    catalog = items.assign(first_seen=items["item_id"].map(first_seen).astype("Int64"))
    catalog = catalog.assign(batch_id="bench-catalog")[
        ["item_id", "title", "year", "genres", "first_seen", "batch_id"]
    ]
    started = time.perf_counter()
    with engine.begin() as connection:
        store.bulk_insert(connection, schema.items, catalog, list(catalog.columns))
        for start in range(0, len(stored), 2_000_000):
            part = stored.iloc[start : start + 2_000_000].assign(batch_id="bench-base")
            store.bulk_insert(connection, schema.events, part, [*part.columns])
    if store.is_postgres(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE events"))
    else:
        with engine.begin() as connection:
            connection.execute(sa.text("ANALYZE"))
    load_s = time.perf_counter() - started
    version = None
    if champion:
        version = _bootstrap(settings, stored.iloc[-bootstrap_events:], items, stored)
    return {
        "stored": len(stored),
        "users": int(events["user_id"].nunique()),
        "items": len(items),
        "day_events": len(day),
        "window_events": len(window),
        "window_start": int(window["timestamp"].min()),
        "window_end": int(window["timestamp"].max()) + 1,
        "store_end": int(stored["timestamp"].max()) + 1,
        "champion": version,
        "bulk_load_s": round(load_s, 1),
    }


def _bootstrap(settings, events, items, stored) -> str:
    """A champion trained briefly on the newest stored events, tagged as covering them all."""
    from recloop.loop.train import TrainingJob, train_and_register, training_params
    from recloop.registry import CandidateLineage
    from recloop.registry.aliases import promote

    settings.train.epochs = 1
    lineage = CandidateLineage(
        train_mode="full",
        window_start=int(stored["timestamp"].min()),
        window_end=int(stored["timestamp"].max()) + 1,
        encoder_mode=settings.train.encoder_mode,
    )
    job = TrainingJob(
        events.reset_index(drop=True),
        items,
        lineage,
        params=training_params(settings, "full", None),
        run_name="bench-bootstrap",
    )
    candidate = train_and_register(settings, job)
    promote(settings, candidate.version, force=True, reason="stage benchmark bootstrap")
    return candidate.version


# ---- stages (timed) ---------------------------------------------------------------------


def _plan(state: dict, start: int, end: int):
    """The step's plan against the bootstrap champion (pinned, so stages can be rerun)."""
    from recloop.clock import SECONDS_PER_DAY
    from recloop.loop.plan import StepPlan
    from recloop.registry import get_version

    settings = _settings()
    parent = get_version(settings, state["champion"])
    holdout = int(end - settings.loop.holdout_days * SECONDS_PER_DAY)
    return settings, StepPlan("incremental", start, holdout, end, parent)


def run_stage(stage: str, scratch: Path, state: dict) -> dict:
    from recloop.data.store import load_items

    out: dict = {}
    if stage in ("ingest_window", "ingest_day"):
        from recloop.data.ingest import ingest_path

        name = "window.csv" if stage == "ingest_window" else "day.csv"
        settings = _settings()
        started = time.perf_counter()
        report = ingest_path(settings, scratch / name, "events")
        seconds = time.perf_counter() - started
        out = {"accepted": report.accepted, "phases": report.seconds, "status": report.status}
        out["events_per_s"] = round(report.received / seconds)
        return {"seconds": seconds, **out}
    if stage in ("drift_window", "drift_day"):
        from recloop.loop.stages import check_drift

        if stage == "drift_window":
            settings, plan = _plan(state, state["window_start"], state["window_end"])
        else:
            settings, plan = _plan(state, state["store_end"], state["day_end"])
        started = time.perf_counter()
        result = check_drift(settings, plan, load_items(settings))
        seconds = time.perf_counter() - started
        out = {
            "drift": result.drift_detected,
            "check_s": round(result.seconds, 2),
            "reference_rows": result.feature_stats[0].reference_rows,
            "current_rows": result.feature_stats[0].current_rows,
            "drifted": result.drifted_features[:4],
        }
        return {"seconds": seconds, **out}
    settings, plan = _plan(state, state["store_end"], state["day_end"])
    if stage == "prepare":
        from recloop.loop.plan import holdout_cases, new_event_count, plan_step, window_events
        from recloop.loop.stages import replay_events

        started = time.perf_counter()
        plan_step(settings)
        new = new_event_count(settings, plan)
        train = window_events(settings, plan.train_start, plan.holdout_start)
        replay = replay_events(settings, plan)
        cases = holdout_cases(settings, plan)
        seconds = time.perf_counter() - started
        out = {"new": new, "train": len(train), "replay": len(replay), "cases": len(cases.user_ids)}
        return {"seconds": seconds, **out}
    if stage == "finetune":
        from recloop.loop.stages import train_candidate

        items = load_items(settings)
        started = time.perf_counter()
        candidate = train_candidate(settings, plan, items, ["bench-day"])
        seconds = time.perf_counter() - started
        out = {"version": candidate.version, "train_s": round(candidate.train_seconds, 1)}
        out["epochs"] = candidate.epochs
        return {"seconds": seconds, **out}
    from recloop.loop.stages import recorded_outcome

    candidate = recorded_outcome(settings, plan)
    if stage == "gate":
        from recloop.loop.stages import gate_candidate

        items = load_items(settings)
        started = time.perf_counter()
        decision = gate_candidate(settings, plan, candidate, items)
        seconds = time.perf_counter() - started
        (scratch / "decision.pickle").write_bytes(pickle.dumps(decision))
        return {"seconds": seconds, "passed": decision.passed, "reasons": decision.reasons[:2]}
    if stage == "conclude":
        from recloop.loop.stages import conclude

        decision = pickle.loads((scratch / "decision.pickle").read_bytes())  # our own file
        started = time.perf_counter()
        status, _ = conclude(settings, plan, candidate, decision)
        return {"seconds": time.perf_counter() - started, "status": str(status)}
    if stage == "serve":
        from recloop.registry import get_champion
        from recloop.serving import load_recommender

        started = time.perf_counter()
        model = load_recommender(get_champion(settings).model_uri, settings)
        loaded = time.perf_counter() - started
        history = [int(i) for i in load_items(settings)["item_id"].head(20)]
        answer = model.recommend(history, k=10)
        return {
            "seconds": time.perf_counter() - started,
            "load_s": round(loaded, 2),
            "answered": len(answer),
        }
    raise SystemExit(f"unknown stage {stage}")


def child(stage: str, scratch: Path) -> dict:
    import torch

    torch.set_num_threads(2)
    state_path = scratch / "state.json"
    if stage == "setup":
        args = json.loads((scratch / "setup.json").read_text())
        row = setup(scratch, **args)
    else:
        state = json.loads(state_path.read_text())
        row = run_stage(stage, scratch, state)
    row["peak_gib"] = round(_peak_gib(), 2)
    return row


# ---- parent -----------------------------------------------------------------------------


def _spawn(stage: str, scratch: Path, env: dict, timeout: int) -> dict:
    command = [sys.executable, __file__, "--child", stage, str(scratch)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout} s (killed)"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _delete_window(url: str, state: dict) -> None:
    """Remove the 1M-event window again so the day's step sees N stored events."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM events WHERE timestamp >= :t"), {"t": state["window_start"]}
        )
    engine.dispose()


def run_size(backend: str, size: str, args, pg_url: str) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix=f"stages-{backend}-{size}-") as tmp:
        scratch = Path(tmp)
        url, drop = f"sqlite:///{scratch / 'store.db'}", None
        if backend == "postgresql":
            url, drop = fresh_pg_database(pg_url, "recloop_stages")
        env = {
            **os.environ,
            "RECLOOP_HOME": str(scratch / "home"),
            "RECLOOP_DATABASE_URL": url,
            "RECLOOP_LOOP__HOLDOUT_DAYS": str(args.holdout_days),
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
            ),
        }
        try:
            (scratch / "setup.json").write_text(
                json.dumps(
                    {
                        "n_stored": SIZES[size],
                        "per_day": args.per_day,
                        "bootstrap_events": args.bootstrap_events,
                        "champion": any(not s.startswith("ingest") for s in args.stages),
                    }
                )
            )
            state = _spawn("setup", scratch, env, args.timeout * 3)
            print(json.dumps({"backend": backend, "size": size, "setup": state}), flush=True)
            if "error" in state:
                return rows
            state["day_end"] = state["store_end"] + 86_400
            (scratch / "state.json").write_text(json.dumps(state))
            for stage in args.stages:
                row = {"backend": backend, "size": size, "stage": stage}
                row.update(_spawn(stage, scratch, env, args.timeout))
                rows.append(row)
                print(json.dumps(row, default=str), flush=True)
                if stage == "drift_window" or (
                    stage == "ingest_window" and "drift_window" not in args.stages
                ):
                    _delete_window(url, state)
        finally:
            if drop:
                from recloop.data.store import dispose_stores

                dispose_stores()
                drop()
    return rows


def print_table(rows: list[dict]) -> None:
    print("\n| stage | backend | stored events | seconds | peak GiB | notes |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['stage']} | {row['backend']} | {row['size']} | - | - | {row['error']} |")
            continue
        note = {
            k: v
            for k, v in row.items()
            if k not in ("stage", "backend", "size", "seconds", "peak_gib")
        }
        print(
            f"| {row['stage']} | {row['backend']} | {row['size']} | {row['seconds']:.1f} | "
            f"{row['peak_gib']:.2f} | {json.dumps(note, default=str)[:120]} |"
        )
    by = {}
    for row in rows:
        if row["stage"] in FRESHNESS and "seconds" in row:
            by.setdefault((row["backend"], row["size"]), []).append(row)
    for (backend, size), parts in by.items():
        if len(parts) == len(FRESHNESS):
            total = sum(p["seconds"] for p in parts)
            top = max(parts, key=lambda p: p["seconds"])
            print(
                f"freshness {backend} {size}: {total:.1f} s "
                f"(largest: {top['stage']} {top['seconds']:.1f} s)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=["1m", "5m"])
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--per-day", type=int, default=13_700)
    parser.add_argument("--holdout-days", type=float, default=0.25)
    parser.add_argument("--bootstrap-events", type=int, default=20_000)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per stage")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("STAGE", "SCRATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1])), default=str))
        return 0
    pg_url = os.environ.get(
        "RECLOOP_BENCH_DATABASE_URL", os.environ.get("RECLOOP_TEST_DATABASE_URL", DEFAULT_PG)
    )
    rows = []
    for size in args.sizes:
        for backend in args.backends:
            rows += run_size(backend, size, args, pg_url)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
