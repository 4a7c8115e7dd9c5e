"""Ingest benchmark: 1,000,000 events resampled from MovieLens-100k, validate + store.

Prints rows/s and peak memory (max RSS of the process that ingests) on SQLite and on
PostgreSQL. Each back end runs in a fresh child process so peak memory is its own; the item
catalog is ingested first, so the unknown-item check runs too. The timed part is one
``ingest_path`` call: read the CSV, validate every row with Great Expectations, decide
duplicates, COPY (PostgreSQL) / executemany (SQLite) the rows, write the ingest log and Data
Docs. Importing the libraries is excluded from the timing and reported separately.

The events: 1,000,000 rows drawn with replacement from the real ratings, each timestamp
jittered by up to one day (so keys stay nearly unique); users, items and ratings are real.

    .venv/bin/python benchmarks/ingest_benchmark.py                 # both back ends
    .venv/bin/python benchmarks/ingest_benchmark.py --backends postgresql --rows 200000
    RECLOOP_BENCH_DATABASE_URL=postgresql+psycopg://user@host/db python benchmarks/...

Target on 2 cores: >= 100,000 rows/s end to end on PostgreSQL, peak memory < 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scratch_db import fresh_pg_database  # benchmarks/, beside this script

REPO = Path(__file__).resolve().parents[1]
MOVIELENS = Path(
    os.environ.get("RECLOOP_TEST_MOVIELENS_DIR", REPO.parent / "shared/datasets/movielens-100k")
)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def build_events(rows: int, out: Path, seed: int = 0) -> None:
    """Resample the real ratings to ``rows`` events and write them as interactions CSV."""
    source = pd.read_csv(MOVIELENS / "interactions.csv")
    rng = np.random.default_rng(seed)
    picked = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    picked["timestamp"] = picked["timestamp"] + rng.integers(0, 86_400, rows)
    picked.to_csv(out, index=False)


def child(url: str, events: Path, home: Path) -> dict:
    """Runs in a fresh process: ingest the catalog, then time the 1M-event batch."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (import cost reported, not timed)

    from recloop.data.ingest import ingest_path
    from recloop.settings import Settings

    settings = Settings(home=home, database_url=url)
    ingest_path(settings, MOVIELENS / "items.csv", "items")
    imported = time.perf_counter() - started
    begin, cpu_begin, server_begin = time.perf_counter(), time.process_time(), _server_cpu()
    report = ingest_path(settings, events, "events")
    seconds, cpu = time.perf_counter() - begin, time.process_time() - cpu_begin
    server_cpu = _server_cpu() - server_begin
    return {
        "status": report.status,
        "received": report.received,
        "accepted": report.accepted,
        "quarantined": report.quarantined,
        "duplicates": report.duplicates,
        "seconds": round(seconds, 2),
        "rows_per_s": round(report.received / seconds),
        "phases": report.seconds,
        "cpu_seconds": round(cpu, 2),  # this process only
        "server_cpu_seconds": round(server_cpu, 2),  # all postgres processes (PostgreSQL)
        "load_average": round(os.getloadavg()[0], 1),
        "setup_seconds": round(imported, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _server_cpu() -> float:
    """CPU seconds used so far by PostgreSQL server processes on this machine.

    On a shared machine wall time depends on the load; client + server CPU seconds do not,
    so the benchmark reports both (other sessions using PostgreSQL would inflate this).
    """
    import psutil

    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("postgres", "postmaster"):
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += times.user + times.system
    return total


def run_backend(backend: str, events: Path, scratch: Path, pg_url: str) -> dict:
    home = scratch / f"home-{backend}"
    url, drop = f"sqlite:///{home / 'bench.db'}", None
    if backend == "postgresql":
        url, drop = fresh_pg_database(pg_url, "recloop_bench")
    try:
        output = subprocess.run(
            [sys.executable, __file__, "--child", url, str(events), str(home)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(output.strip().splitlines()[-1])
    finally:
        if drop:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--child", nargs=3, metavar=("URL", "EVENTS", "HOME"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        url, events, home = args.child
        print(json.dumps(child(url, Path(events), Path(home))))
        return
    pg_url = os.environ.get(
        "RECLOOP_BENCH_DATABASE_URL", os.environ.get("RECLOOP_TEST_DATABASE_URL", DEFAULT_PG)
    )
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        events = scratch / "events.csv"
        build_events(args.rows, events)
        print(
            f"{args.rows:,} events resampled from MovieLens-100k "
            f"({events.stat().st_size / 2**20:.0f} MiB CSV); {os.cpu_count()} CPUs"
        )
        for backend in args.backends:
            result = run_backend(backend, events, scratch, pg_url)
            print(
                f"{backend:>10}: {result['rows_per_s']:>9,} rows/s  "
                f"{result['seconds']:>6.2f} s  peak {result['peak_rss_mib']:,} MiB  "
                f"status={result['status']} accepted={result['accepted']:,} "
                f"duplicates={result['duplicates']:,} quarantined={result['quarantined']:,} "
                f"phases={result['phases']} cpu={result['cpu_seconds']} s "
                f"server_cpu={result['server_cpu_seconds']} s "
                f"load={result['load_average']} (setup {result['setup_seconds']} s, untimed)"
            )


if __name__ == "__main__":
    main()
