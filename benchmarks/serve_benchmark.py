"""Serving latency of a recloop model under `mlflow models serve` (prints figures).

    .venv/bin/python benchmarks/serve_benchmark.py --model-dir PATH [--requests 200]

Logs the model directory to a throw-away MLflow store, starts ``mlflow models serve
--env-manager local`` as its own process, and times one ``/invocations`` request at a time
(one user, k=10, MMR on with lambda 0.7, a request time) from this process: p50/p95/p99
and mean in ms, plus the time until the server answered ``/ping``. With no
``--model-dir`` it trains a small model first (a few epochs on MovieLens-100k), which says
little about quality but the same about latency, since the network's shape is the default.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
REPO = Path(__file__).resolve().parents[1]
MOVIELENS = Path(
    os.environ.get("RECLOOP_TEST_MOVIELENS_DIR", REPO.parent / "shared/datasets/movielens-100k")
)


def _small_model(workdir: Path) -> Path:
    from recloop.data.readers import read_movielens_canonical
    from recloop.settings import Settings
    from recloop.training.trainer import train_recommender

    data = read_movielens_canonical(MOVIELENS)
    cache = os.environ.get("RECLOOP_CACHE_DIR", str(REPO / ".recloop" / "cache"))
    settings = Settings(home=workdir, cache_dir=cache, train={"epochs": 2, "device": "cpu"})
    return train_recommender(settings, data.events, data.items, out_dir=workdir / "model").model_dir


def _register(model_dir: Path, workdir: Path) -> tuple[str, str]:
    import mlflow

    from recloop.serving.packaging import log_recommender
    from recloop.settings import Settings
    from recloop.tracking import configure_mlflow

    settings = Settings(home=workdir / "mlflow-home")
    configure_mlflow(settings)
    with mlflow.start_run(run_name="serve-benchmark"):
        uri, _ = log_recommender(model_dir, registered_model_name="recloop-serve-bench")
    return uri, settings.mlflow_tracking_uri.get_secret_value()  # for the server's env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--history-length", type=int, default=50)
    parser.add_argument(
        "--timestamp",
        type=float,
        default=890_000_000.0,
        help="Request time (Unix seconds); the default lies in MovieLens-100k's span "
        "(March 1998), so new arrivals get their bonus as in a replay.",
    )
    args = parser.parse_args()
    import httpx

    from recloop.model.artifacts import load_items

    workdir = Path(tempfile.mkdtemp(prefix="recloop-serve-bench-"))
    model_dir = args.model_dir or _small_model(workdir)
    uri, tracking = _register(model_dir, workdir)
    item_ids = load_items(model_dir)["item_id"].to_numpy()
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=30) as client:
            while True:
                try:
                    if client.get(f"{base}/ping").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
                if server.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit("model server did not start")
            ready_s = time.perf_counter() - started
            rng = np.random.default_rng(0)
            latencies = []
            for i in range(args.requests + 5):
                history = rng.choice(item_ids, size=args.history_length, replace=False).tolist()
                body = {
                    "dataframe_records": [{"history": history, "timestamp": args.timestamp}],
                    "params": {"k": 10, "diversity_lambda": 0.7},
                }
                t = time.perf_counter()
                response = client.post(f"{base}/invocations", json=body)
                elapsed = (time.perf_counter() - t) * 1000
                response.raise_for_status()
                if i >= 5:  # the first requests warm up the process
                    latencies.append(elapsed)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    lat = np.array(latencies)
    print(
        json.dumps(
            {
                "model_uri": uri,
                "requests": len(lat),
                "history_length": args.history_length,
                "timestamp": args.timestamp,
                "k": 10,
                "diversity_lambda": 0.7,
                "server_ready_s": round(ready_s, 1),
                "p50_ms": round(float(np.percentile(lat, 50)), 2),
                "p95_ms": round(float(np.percentile(lat, 95)), 2),
                "p99_ms": round(float(np.percentile(lat, 99)), 2),
                "mean_ms": round(float(lat.mean()), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
