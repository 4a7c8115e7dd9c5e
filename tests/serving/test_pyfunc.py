"""The MLflow pyfunc: registry round trip, request limits, and two real HTTP servers:
`mlflow models serve` (the limits the model enforces) and `recloop serve` (plus the body
size limit, the required Content-Type and short error bodies)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
MODEL_NAME = "recloop-recommender"
# Small limits, so that requests just over them are cheap to send.
LIMITS = {
    "max_k": 20,
    "max_history_length": 300,
    "max_rows": 100,
    "max_body_bytes": 20_000,
    "max_mmr_pool": 50,
}
SERVE_OVERRIDE = {"max_rows": 40}  # MLFLOW_PYFUNC_INFERENCE_CONFIG when the server starts
MARKER = "SECRET-PAYLOAD-MARKER"  # sent in refused requests; must never come back
UNKNOWN_ID = 987_654_321_123  # an id no catalog holds; must never come back in an error


@pytest.fixture(scope="module")
def registered(trained_model_dir, tmp_path_factory):
    """The trained model logged (with the test limits) and registered in a fresh
    workspace's MLflow store."""
    import mlflow

    from recloop.serving.packaging import log_recommender
    from recloop.settings import ServingSettings, Settings
    from recloop.tracking import configure_mlflow

    settings = Settings(home=tmp_path_factory.mktemp("pyfunc-home"))
    configure_mlflow(settings)
    with mlflow.start_run():
        uri, version = log_recommender(
            trained_model_dir,
            registered_model_name=MODEL_NAME,
            serving=ServingSettings(**LIMITS),
        )
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
    assert model.model_config == LIMITS  # the limits travel with the model
    assert model.unwrap_python_model().recommender.max_mmr_pool == LIMITS["max_mmr_pool"]
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


def test_gate_probe_asks_in_requests_within_the_row_limit(registered, trained_model_dir, ml_slice):
    """The gate answers every holdout user through the pyfunc: more users than the model's
    max_rows are sent as several requests, not refused."""
    import mlflow

    from recloop.gate import load_gate_policy
    from recloop.gate.infra import probe_pyfunc
    from recloop.serving.packaging import log_recommender
    from recloop.settings import ServingSettings
    from recloop.tracking import configure_mlflow

    settings, _, _ = registered
    configure_mlflow(settings)
    with mlflow.start_run():
        uri, _ = log_recommender(
            trained_model_dir, registered_model_name=None, serving=ServingSettings(max_rows=10)
        )
    histories = [[int(i)] for i in ml_slice[0]["item_id"].head(25)]
    answered, non_finite, p95 = probe_pyfunc(
        uri, histories, load_gate_policy(settings.gate.policy_file)
    )
    assert (answered, non_finite) == (25, 0) and p95 is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start a model server process, wait for /ping, yield its base URL, stop it."""
    import httpx

    port = _free_port()
    log = log_path.open("w")
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**env, "HF_HUB_OFFLINE": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=log_path.parent,
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
            assert proc.poll() is None, log_path.read_text()[-2000:]
            time.sleep(1)
        else:
            pytest.fail(f"model server did not answer /ping in time: {log_path.read_text()}")
        yield base
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@pytest.fixture(scope="module")
def mlflow_server(registered, tmp_path_factory) -> Iterator[str]:
    """`mlflow models serve` on the registered model, with a serve-time limit override."""
    settings, uri, _ = registered
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri.get_secret_value()
    env["MLFLOW_PYFUNC_INFERENCE_CONFIG"] = json.dumps(SERVE_OVERRIDE)
    cmd = [_bin("mlflow"), "models", "serve", "-m", uri, "--env-manager", "local"]
    log = tmp_path_factory.mktemp("mlflow-serve") / "serve.log"
    yield from _serve([*cmd, "-h", "127.0.0.1"], env, log)


@pytest.fixture(scope="module")
def recloop_server(registered, tmp_path_factory) -> Iterator[str]:
    """`recloop serve` on the registered model, found through the workspace alone."""
    settings, uri, _ = registered
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["RECLOOP_HOME"] = str(settings.home_dir)
    import recloop

    source = str(Path(recloop.__file__).resolve().parents[1])  # this checkout's recloop
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "recloop.cli.main", "serve", "--model", uri]
    log = tmp_path_factory.mktemp("recloop-serve") / "serve.log"
    yield from _serve(cmd, env, log)


def _history(ml_slice, n: int = 5) -> list[int]:
    return ml_slice[0]["item_id"].head(n).astype(int).tolist()


def _post(base: str, body: dict | bytes, headers: dict | None = None):
    import httpx

    if isinstance(body, dict):
        return httpx.post(f"{base}/invocations", json=body, timeout=30)
    return httpx.post(f"{base}/invocations", content=body, headers=headers or {}, timeout=30)


def _assert_short_refusal(answer, status: int, says: str) -> None:
    """The status, a message naming the problem, and none of the request's data."""
    assert answer.status_code == status, answer.text
    message = answer.json()["message"]
    assert says in message
    assert len(message) < 200
    assert MARKER not in answer.text and str(UNKNOWN_ID) not in answer.text


@pytest.mark.integration
def test_mlflow_models_serve_answers_invocations(mlflow_server, ml_slice):
    history = _history(ml_slice)
    body = {
        "dataframe_records": [
            {"history": [*history, 777777], "timestamp": 875_000_000},
            {"history": []},
        ],
        "params": {"k": 5, "diversity_lambda": 0.7},
    }
    answer = _post(mlflow_server, body)
    assert answer.status_code == 200, answer.text
    first, empty = answer.json()["predictions"]
    assert len(first["item_ids"]) == 5 and len(first["scores"]) == 5
    assert first["unknown_item_ids"] == [777777]
    assert set(first["because_item_ids"]) <= set(history)
    assert len(empty["item_ids"]) == 5
    full = _post(mlflow_server, {"dataframe_records": [{"history": history}], "params": {"k": 20}})
    assert full.status_code == 200 and len(full.json()["predictions"][0]["item_ids"]) == 20
    malformed = _post(mlflow_server, {"dataframe_records": [{"history": "abc"}]})
    assert malformed.status_code == 400
    bad_k = {"dataframe_records": [{"history": history}], "params": {"k": 0}}
    _assert_short_refusal(_post(mlflow_server, bad_k), 400, "k must be an integer from 1 to 20")
    bad_time = {"dataframe_records": [{"history": history, "timestamp": "yesterday"}]}
    assert _post(mlflow_server, bad_time).status_code == 400


@pytest.mark.integration
def test_mlflow_models_serve_refuses_requests_over_the_limits(mlflow_server, ml_slice):
    """k, exclude length and rows (overridden at serve time to 40): each answered 400 with
    a short message that does not repeat the request. A history over its limit is answered
    from its most recent ids."""
    history = [*_history(ml_slice), UNKNOWN_ID]

    def row(ids):
        return {"history": ids, "scenario": MARKER}

    big_k = {"dataframe_records": [row(history)], "params": {"k": 21}}
    _assert_short_refusal(_post(mlflow_server, big_k), 400, "k must be an integer from 1 to 20")
    older = _history(ml_slice, 400)[:100]
    recent = [*_history(ml_slice, 400)[100:], UNKNOWN_ID]  # 301 ids: the limit is 300
    long_history = _post(mlflow_server, {"dataframe_records": [row([*older, *recent])]})
    cut = _post(mlflow_server, {"dataframe_records": [row(recent[-300:])]})
    assert long_history.status_code == 200 and cut.status_code == 200
    assert long_history.json() == cut.json()
    long_exclude = {"dataframe_records": [row(history)], "params": {"exclude": history * 60}}
    _assert_short_refusal(
        _post(mlflow_server, long_exclude), 400, "exclude holds more than 300 item ids"
    )
    many_rows = {"dataframe_records": [row(history)] * 41}
    _assert_short_refusal(_post(mlflow_server, many_rows), 400, "at most 40 rows")
    at_limit = _post(mlflow_server, {"dataframe_records": [row(history)] * 40})
    assert at_limit.status_code == 200 and len(at_limit.json()["predictions"]) == 40


@pytest.mark.integration
def test_recloop_serve_guards_the_scoring_server(recloop_server, mlflow_server, ml_slice):
    """Same answers as `mlflow models serve`; a body over the limit gets 413 (declared or
    streamed), no Content-Type gets 400 (MLflow alone answers 500), MLflow's own parse
    errors come back short, without the request."""
    history = _history(ml_slice)
    body = {"dataframe_records": [{"history": history}], "params": {"k": 5}}
    ours, theirs = _post(recloop_server, body), _post(mlflow_server, body)
    assert ours.status_code == 200 and ours.json() == theirs.json()

    oversized = {"dataframe_records": [{"history": [UNKNOWN_ID] * 2000, "scenario": MARKER}]}
    _assert_short_refusal(_post(recloop_server, oversized), 413, "larger than 20000 bytes")
    chunks = (b'{"dataframe_records": [' + b" " * 1000 for _ in range(30))
    streamed = _post(recloop_server, chunks, {"Content-Type": "application/json"})
    _assert_short_refusal(streamed, 413, "larger than 20000 bytes")

    _assert_short_refusal(_post(recloop_server, b""), 400, "Content-Type header is required")
    not_json = f'{{"dataframe_records": [{{"history": [{UNKNOWN_ID}], "x": "{MARKER}"'.encode()
    _assert_short_refusal(
        _post(recloop_server, not_json, {"Content-Type": "application/json"}),
        400,
        "not valid JSON",
    )
    assert MARKER in _post(mlflow_server, not_json, {"Content-Type": "application/json"}).text
    wrong_type = {"dataframe_records": [{"history": [1], "timestamp": MARKER}]}
    _assert_short_refusal(_post(recloop_server, wrong_type), 400, "column 'timestamp'")
    big_k = {"dataframe_records": [{"history": history, "scenario": MARKER}], "params": {"k": 99}}
    _assert_short_refusal(_post(recloop_server, big_k), 400, "k must be an integer from 1 to 20")


# ---- property: any request gets a valid answer within the limits or a clean refusal ----

PROPERTY_LIMITS = {"max_rows": 6, "max_history_length": 25}  # small: both sides are cheap
INT64 = (-(2**63), 2**63 - 1)


@pytest.fixture(scope="module")
def scoring_clients(registered):
    """MLflow's scoring app (what `mlflow models serve` runs) and the same app behind
    `recloop serve`'s guard, in-process, for a model loaded with smaller limits."""
    import mlflow
    from mlflow.pyfunc import scoring_server
    from starlette.testclient import TestClient

    from recloop.serving.http_guard import guarded_scoring_app

    _, uri, _ = registered
    model = mlflow.pyfunc.load_model(uri, model_config=PROPERTY_LIMITS)
    flag = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"  # scoring_server.init sets it process-wide
    before = os.environ.get(flag)
    try:
        plain = TestClient(scoring_server.init(model), raise_server_exceptions=False)
        guarded = TestClient(
            guarded_scoring_app(model, LIMITS["max_body_bytes"]), raise_server_exceptions=False
        )
    finally:
        if before is None:
            os.environ.pop(flag, None)
        else:
            os.environ[flag] = before
    return plain, guarded, model.unwrap_python_model().limits


def _requests():
    from hypothesis import strategies as st

    item_ids = st.one_of(
        st.integers(1, 1682),  # the catalog's ids
        st.integers(*INT64),
        st.integers(2**63, 2**80),  # not an int64
    )
    histories = st.lists(item_ids, max_size=30)
    row = st.fixed_dictionaries(
        {"history": histories},
        optional={
            "scenario": st.just(MARKER),
            "timestamp": st.one_of(st.integers(0, 2_000_000_000), st.floats(), st.integers(*INT64)),
        },
    )
    params = st.fixed_dictionaries(
        {},
        optional={
            "k": st.one_of(st.integers(-2, 24), st.integers(-(2**70), 2**70)),
            "diversity_lambda": st.one_of(st.floats(), st.floats(0, 1)),
            "exclude": histories,
        },
    )
    return st.fixed_dictionaries({"dataframe_records": st.lists(row, max_size=8), "params": params})


def _fits(body: dict, limits) -> bool:
    """Whether a request is within every limit and type: it must then be answered."""
    from recloop.serving.pyfunc_model import MAX_TIMESTAMP

    params = body["params"]
    rows = body["dataframe_records"]
    ids = [i for r in rows for i in r["history"]] + params.get("exclude", [])
    return (
        1 <= len(rows) <= limits.max_rows
        and len(params.get("exclude", [])) <= limits.max_history_length
        and all(INT64[0] <= i <= INT64[1] for i in ids)
        and 1 <= params.get("k", 10) <= limits.max_k
        and 0 <= params.get("diversity_lambda", 1.0) <= 1
        and not any(abs(r.get("timestamp", 0)) > MAX_TIMESTAMP for r in rows)  # NaN: now
    )


def _check_answer(body: dict, answer, limits) -> None:
    """A 200 holds one valid list per row; anything else is a short 4xx without the data."""
    from recloop.serving.http_guard import REJECTED_ERROR_CLASS

    assert answer.status_code < 500, answer.text
    params, rows = body["params"], body["dataframe_records"]
    if answer.status_code == 200:
        predictions = answer.json()["predictions"]
        assert len(predictions) == len(rows)
        k = params.get("k", 10)
        for row, out in zip(rows, predictions, strict=True):
            items = out["item_ids"]
            assert len(items) == len(set(items)) and len(items) <= min(k, limits.max_k)
            read = row["history"][-limits.max_history_length :]  # the most recent ids
            assert not set(items) & (set(read) | set(params.get("exclude", [])))
            assert len(out["scores"]) == len(items)
            assert set(out["unknown_item_ids"]) <= set(row["history"])
        return
    assert 400 <= answer.status_code < 500
    error = answer.json()
    if error.get("error_class") == REJECTED_ERROR_CLASS or "error_class" not in error:
        big = {str(i) for r in rows for i in r["history"] if abs(i) >= 10**9}
        big |= {str(i) for i in params.get("exclude", []) if abs(i) >= 10**9}
        assert len(error["message"]) < 200
        assert MARKER not in answer.text and not any(i in answer.text for i in big)


def _post_json(client, body: dict):
    return client.post(
        "/invocations",
        content=json.dumps(body).encode(),  # NaN and Infinity as Python writes them
        headers={"Content-Type": "application/json"},
    )


def test_any_request_gets_an_answer_within_the_limits_or_a_clean_refusal(scoring_clients):
    """Random k, ids (catalog, any int64, beyond int64), history lengths (cut to the most
    recent 25), row counts, lambdas and timestamps: the plain scoring app never fails (5xx)
    and the model's refusals repeat nothing; behind the guard every refusal is short and
    repeats nothing; a request within the limits is always answered, and identically by
    both."""
    from hypothesis import HealthCheck, given, settings

    plain, guarded, limits = scoring_clients

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=_requests())
    def check(body):
        bare, behind = _post_json(plain, body), _post_json(guarded, body)
        _check_answer(body, bare, limits)
        _check_answer(body, behind, limits)
        assert "error_class" not in behind.json()  # the guard answers in its own short form
        if _fits(body, limits):
            assert bare.status_code == 200, bare.text
            assert behind.status_code == 200 and behind.json() == bare.json()

    check()
