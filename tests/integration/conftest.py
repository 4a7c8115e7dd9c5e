"""Real servers for integration tests: MLflow and Prefect on PostgreSQL, and a worker.

The servers run as separate processes, each in its own process group, exactly as a team
runs them (see ``mlflow/mlflow-server.sh`` and ``docs/operations.md``):

- ``mlflow server`` with a PostgreSQL backend store (a fresh database on the server named by
  ``RECLOOP_TEST_DATABASE_URL``) and a local artifact root, proxied over HTTP;
- ``prefect server start`` on a free 127.0.0.1 port, also on a fresh PostgreSQL database
  (asyncpg driver).

Both are session-scoped (about 15 s to start together) and are stopped, and their databases
dropped, however the session ends. recloop reaches them through the environment only
(``server_env``): ``RECLOOP_REGISTRY__TRACKING_URI`` and ``PREFECT_API_URL``.

Fixtures for other tests: ``servers`` (URLs and env), ``prefect_cli`` (run a ``prefect``
command against the server), ``process_worker`` (start a process worker for a pool),
``wait_flow_run`` (poll the Prefect API until a run is final) and ``mlflow_api`` (an httpx
client on the MLflow REST API).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..notify.conftest import receiver  # noqa: F401  (an HTTP receiver for alerts)

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
SERVER_START_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass(frozen=True)
class ServerStack:
    """Where the servers of this session listen, and the env that points recloop at them."""

    mlflow_url: str
    mlflow_db_url: str
    prefect_api_url: str
    prefect_db_url: str
    artifact_root: Path
    env: dict[str, str]
    logs_dir: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_group(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``args`` in a new session, so stopping it also stops every child it forks."""
    handle = log.open("ab")
    return subprocess.Popen(
        args, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is still alive after a grace period."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_GRACE_S)
    except ProcessLookupError:
        pass


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> float:
    """Poll ``url`` until it answers 200; fail with the log tail if the process dies first.

    Returns:
        float: seconds waited (reported by the tests, useful on a slow CI box).
    """
    import httpx

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            pytest.fail(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} not healthy after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create a new PostgreSQL database and yield its URL; drop it (forcefully) afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def base_env(home: Path) -> dict[str, str]:
    """The child-process environment: quiet, offline, and free of the caller's recloop set-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECLOOP_", "PREFECT_"))}
    env.update(
        PATH=f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        PREFECT_HOME=str(home / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
    )
    return env


@contextmanager
def mlflow_server(pg_server: str, root: Path) -> Iterator[tuple[str, str, Path]]:
    """``mlflow server`` on PostgreSQL with proxied artifacts under ``root``."""
    with fresh_database(pg_server, "recloop_it_mlflow") as db_url:
        port, artifacts, log = free_port(), root / "mlartifacts", root / "mlflow-server.log"
        env = base_env(root) | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        proc = start_group(
            [str(BIN_DIR / "mlflow"), "server", "--backend-store-uri", db_url,
             "--artifacts-destination", str(artifacts), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            env, log,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(f"{url}/health", proc, log, SERVER_START_TIMEOUT_S)
            yield url, db_url, artifacts
        finally:
            stop_group(proc)


@contextmanager
def prefect_server(pg_server: str, root: Path) -> Iterator[tuple[str, str]]:
    """``prefect server start`` on PostgreSQL (asyncpg) on a free port."""
    from sqlalchemy.engine import make_url

    with fresh_database(pg_server, "recloop_it_prefect") as db_url:
        async_url = make_url(db_url).set(drivername="postgresql+asyncpg")
        port, log = free_port(), root / "prefect-server.log"
        env = base_env(root) | {
            "PREFECT_API_DATABASE_CONNECTION_URL": async_url.render_as_string(False)
        }
        proc = start_group(
            [str(BIN_DIR / "prefect"), "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env, log,
        )  # fmt: skip
        try:
            api = f"http://127.0.0.1:{port}/api"
            wait_healthy(f"{api}/health", proc, log, SERVER_START_TIMEOUT_S)
            yield api, db_url
        finally:
            stop_group(proc)


@pytest.fixture(scope="session")
def servers(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerStack]:
    """MLflow + Prefect servers on fresh PostgreSQL databases, for the whole session."""
    from concurrent.futures import ThreadPoolExecutor, wait
    from contextlib import ExitStack

    import httpx  # noqa: F401  (import once here: two threads importing at once deadlock)
    import sqlalchemy.engine  # noqa: F401

    root = tmp_path_factory.mktemp("servers")
    ml_stack, pf_stack = ExitStack(), ExitStack()
    # Start and stop both at once: each takes 10-15 s to start on two cores.
    with ThreadPoolExecutor(2) as pool:
        try:
            ml = pool.submit(ml_stack.enter_context, mlflow_server(pg_server_url, root))
            pf = pool.submit(pf_stack.enter_context, prefect_server(pg_server_url, root))
            wait([ml, pf])  # both entered (or failed) before anything can be torn down
            (mlflow_url, mlflow_db, artifacts), (api_url, prefect_db) = ml.result(), pf.result()
            env = base_env(root) | {
                "PREFECT_API_URL": api_url,
                "RECLOOP_HOME": str(root / "recloop-home"),
                "RECLOOP_REGISTRY__TRACKING_URI": mlflow_url,
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_WORKER_PREFETCH_SECONDS": "5",
            }
            yield ServerStack(mlflow_url, mlflow_db, api_url, prefect_db, artifacts, env, root)
        finally:
            list(pool.map(ExitStack.close, (ml_stack, pf_stack)))


@pytest.fixture(scope="session")
def prefect_cli(servers: ServerStack) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``prefect <args>`` from the repository root against the session's server."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
        proc = subprocess.run(
            [str(BIN_DIR / "prefect"), "--no-prompt", *args],
            cwd=REPO_ROOT, env=servers.env | (env or {}),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    return run


@pytest.fixture
def process_worker(servers: ServerStack) -> Iterator[Callable[..., subprocess.Popen]]:
    """Factory: start ``prefect worker start --pool <pool>``; every worker stops at teardown."""
    started: list[subprocess.Popen] = []

    def start(pool: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = servers.logs_dir / f"worker-{pool}.log"
        proc = start_group(
            [str(BIN_DIR / "prefect"), "worker", "start", "--pool", pool, "--type", "process"],
            servers.env | (env or {}), log,
        )  # fmt: skip
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            stop_group(proc)


@pytest.fixture(scope="session")
def prefect_api(servers: ServerStack) -> Iterator:
    """An httpx client on the Prefect REST API (base URL ends in /api/)."""
    import httpx

    with httpx.Client(base_url=servers.prefect_api_url + "/", timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def mlflow_api(servers: ServerStack) -> Iterator:
    """An httpx client on the MLflow REST API (``api/2.0/mlflow/...``)."""
    import httpx

    with httpx.Client(base_url=servers.mlflow_url + "/api/2.0/mlflow/", timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def wait_flow_run(prefect_api) -> Callable[[str, float], dict]:
    """Poll ``GET /flow_runs/{id}`` until the run reaches a final state; return its JSON."""

    def wait(flow_run_id: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = prefect_api.get(f"flow_runs/{flow_run_id}").raise_for_status().json()
            if run["state_type"] in FINAL_STATES:
                return run
            if time.monotonic() > deadline:
                pytest.fail(f"flow run {flow_run_id} still {run['state_type']} after {timeout} s")
            time.sleep(1)

    return wait


@pytest.fixture
def managed_process(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen, Path]]]:
    """Factory: start a command in its own process group, logged; all stopped at teardown."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], env: dict[str, str], name: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{name}.log"
        proc = start_group(args, base_env(tmp_path) | env, log)
        started.append(proc)
        return proc, log

    try:
        yield start
    finally:
        for proc in started:
            stop_group(proc)


@pytest.fixture(scope="session")
def wait_http() -> Callable[[str, subprocess.Popen, Path], float]:
    """``wait_http(url, proc, log)``: seconds until ``url`` answered 200 (fails on exit)."""
    return lambda url, proc, log: wait_healthy(url, proc, log, SERVER_START_TIMEOUT_S)
