"""How the MLflow registry behaves as versions pile up (the continual loop adds one per run).

Creates one registered model with N versions on a tracking server (each version points at a
run's model path, without copying artifacts), and times what recloop does on every loop
step: create a version, tag it, move an alias, resolve ``@champion``, list the versions.
Prints one JSON object. Run it against a scratch server, never the production registry
(docs/scaling.md used the walkthrough's server at http://127.0.0.1:5055):

    .venv/bin/python benchmarks/registry_benchmark.py --tracking-uri URL --versions 300
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
import uuid
from collections.abc import Callable


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    """Median and max wall time of ``fn`` in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--versions", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    import mlflow
    from mlflow import MlflowClient

    # One INFO line per version otherwise ("Waiting up to 300 seconds for model version...").
    logging.getLogger("mlflow.store.model_registry.abstract_store").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(args.tracking_uri)
    client = MlflowClient()
    name = f"bench-registry-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    experiment = client.create_experiment(name)
    run = client.create_run(experiment)
    source = f"runs:/{run.info.run_id}/model"

    create_ms = []
    for i in range(args.versions):
        start = time.perf_counter()
        version = client.create_model_version(name, source, run_id=run.info.run_id)
        client.set_model_version_tag(name, version.version, "window_end", str(i))
        client.set_registered_model_alias(name, "champion", version.version)
        create_ms.append((time.perf_counter() - start) * 1000)

    result = {
        "tracking_uri": args.tracking_uri,
        "versions": args.versions,
        "register_tag_alias_ms": {
            "first_50_median": round(statistics.median(create_ms[:50]), 1),
            "last_50_median": round(statistics.median(create_ms[-50:]), 1),
        },
        "resolve_champion": timed(
            lambda: client.get_model_version_by_alias(name, "champion"), args.repeat
        ),
        "search_all_versions": timed(
            lambda: client.search_model_versions(f"name='{name}'", max_results=10_000),
            max(3, args.repeat // 4),
        ),
        "get_registered_model": timed(lambda: client.get_registered_model(name), args.repeat),
    }
    client.delete_registered_model(name)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
