"""``mlflow/mlflow-server.sh``: the team's tracking server, configured by an env file.

The script is run as an operator would run it, against a fresh PostgreSQL database; the
password comes from a file and must reach libpq as ``PGPASSWORD``, never the command line.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

SCRIPT = Path(__file__).resolve().parents[2] / "mlflow" / "mlflow-server.sh"


def test_server_script_uses_postgres_and_password_file(
    pg_url, tmp_path, managed_process, wait_http
):
    import httpx
    from sqlalchemy import create_engine, text

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    password_file = tmp_path / "postgres_password"
    password_file.write_text("s3cret-from-file")
    env_file = tmp_path / "server.env"
    env_file.write_text(
        f"MLFLOW_BACKEND_STORE_URI={pg_url}\n"
        f"PGPASSWORD_FILE={password_file}\n"
        f"MLFLOW_ARTIFACTS_DESTINATION={tmp_path / 'artifacts'}\n"
        f"MLFLOW_PORT={port}\nMLFLOW_WORKERS=1\n"
    )
    proc, log = managed_process(["bash", str(SCRIPT), str(env_file)], {}, "mlflow-script")
    wait_http(f"http://127.0.0.1:{port}/health", proc, log)

    api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    created = httpx.post(f"{api}/experiments/create", json={"name": "ops-check"}).json()
    assert httpx.get(f"{api}/experiments/get", params={"experiment_id": created["experiment_id"]})
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            names = conn.execute(text("SELECT name FROM experiments")).scalars().all()
    finally:
        engine.dispose()
    assert "ops-check" in names

    # The script execs mlflow: the server process got the secret in its environment only.
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    assert b"PGPASSWORD=s3cret-from-file" in environ
    assert b"s3cret" not in cmdline
    assert b"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in environ
