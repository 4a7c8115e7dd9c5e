"""The MLflow pyfunc: registry round trip, and `mlflow models serve` over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
MODEL_NAME = "recloop-recommender"


@pytest.fixture(scope="module")
def registered(trained_model_dir, tmp_path_factory):
    """The trained model logged and registered in a fresh workspace's MLflow store."""
    import mlflow

    from recloop.serving.packaging import log_recommender
    from recloop.settings import Settings
    from recloop.tracking import configure_mlflow

    settings = Settings(home=tmp_path_factory.mktemp("pyfunc-home"))
    configure_mlflow(settings)
    with mlflow.start_run():
        uri, version = log_recommender(trained_model_dir, registered_model_name=MODEL_NAME)
    return settings, uri, version


def test_pyfunc_round_trips_through_the_registry(registered, ml_slice):
    import mlflow
    import pandas as pd

    from recloop.serving import load_recommender

    _, uri, version = registered
    assert version == "1" and uri == f"models:/{MODEL_NAME}/1"
    model = mlflow.pyfunc.load_model(uri)
    assert {p.name for p in model.metadata.get_params_schema().params} == {
        "k",
        "diversity_lambda",
        "exclude",
    }
    history = ml_slice[0]["item_id"].head(6).astype(int).tolist()
    out = model.predict(
        pd.DataFrame({"history": [history, []]}),
        params={"k": 4, "diversity_lambda": 0.5, "exclude": [50]},
    )
    first, empty = out.iloc[0], out.iloc[1]
    assert len(first["item_ids"]) == 4 and 50 not in first["item_ids"]
    assert set(first["because_item_ids"]) <= set(history)
    assert len(empty["item_ids"]) == 4 and all(b is None for b in empty["because_item_ids"])
    launch = 875_000_000  # the request's time: item ages count from it
    timed = model.predict(
        pd.DataFrame({"history": [history, history], "timestamp": [launch, None]}),
        params={"k": 4},
    )
    recommender = load_recommender(uri)
    at_launch = [r["item_id"] for r in recommender.recommend(history, k=4, at=launch)]
    now = [r["item_id"] for r in recommender.recommend(history, k=4)]
    assert list(timed.iloc[0]["item_ids"]) == at_launch
    assert list(timed.iloc[1]["item_ids"]) == now  # no timestamp: the request is made now
    assert (
        load_recommender(uri).item_ids.shape == load_recommender(uri).item_text_embeddings.shape[:1]
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.integration
def test_mlflow_models_serve_answers_invocations(registered, ml_slice, tmp_path):
    import httpx

    settings, uri, _ = registered
    port = _free_port()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    env["HF_HUB_OFFLINE"] = "1"
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
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
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 150
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            time.sleep(1)
        else:
            pytest.fail("model server did not answer /ping in time")
        history = ml_slice[0]["item_id"].head(5).astype(int).tolist()
        body = {
            "dataframe_records": [
                {"history": [*history, 777777], "timestamp": 875_000_000},
                {"history": []},
            ],
            "params": {"k": 5, "diversity_lambda": 0.7},
        }
        answer = httpx.post(f"{base}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        first, empty = answer.json()["predictions"]
        assert len(first["item_ids"]) == 5 and len(first["scores"]) == 5
        assert first["unknown_item_ids"] == [777777]
        assert set(first["because_item_ids"]) <= set(history)
        assert len(empty["item_ids"]) == 5
        malformed = httpx.post(
            f"{base}/invocations", json={"dataframe_records": [{"history": "abc"}]}, timeout=30
        )
        assert malformed.status_code == 400
        bad_k = httpx.post(
            f"{base}/invocations",
            json={"dataframe_records": [{"history": history}], "params": {"k": 0}},
            timeout=30,
        )
        assert bad_k.status_code == 400 and "k must be at least 1" in bad_k.text
        bad_time = httpx.post(
            f"{base}/invocations",
            json={"dataframe_records": [{"history": history, "timestamp": "yesterday"}]},
            timeout=30,
        )
        assert bad_time.status_code == 400
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
