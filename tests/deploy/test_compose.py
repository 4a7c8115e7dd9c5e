"""``docker/compose.yaml``: valid per the Compose Specification, and wired the way the docs say.

No Docker engine runs here, so the file is checked against the Compose Specification JSON
schema (vendored by check-jsonschema as ``vendor.compose-spec``) and then for the properties
that matter to recloop: PostgreSQL with a volume and health check, MLflow on PostgreSQL with an
artifact volume, a GPU reservation for the worker, the champion model server, and secrets
that come only from files.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose_validator():
    import jsonschema

    schema_file = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_compose_file_passes_the_compose_spec_schema():
    proc = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c["services"]["postgres"]["healthcheck"].update(tset=["CMD", "true"]),
        lambda c: c["services"]["worker-gpu"]["deploy"]["resources"]["reservations"].update(
            devices="all"
        ),
        lambda c: c["secrets"]["postgres_password"].update(value="hunter2"),
    ],
    ids=["unknown-healthcheck-key", "devices-not-a-list", "inline-secret-value"],
)
def test_schema_rejects_broken_variants(compose, compose_validator, mutate):
    broken = copy.deepcopy(compose)
    mutate(broken)
    assert not compose_validator.is_valid(broken)
    assert compose_validator.is_valid(compose)


def test_postgres_has_volume_healthcheck_and_databases(compose):
    pg = compose["services"]["postgres"]
    assert any(v.startswith("pgdata:") for v in pg["volumes"]) and "pgdata" in compose["volumes"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    init = (DOCKER / "postgres" / "init-databases.sql").read_text()
    assert {"mlflow", "prefect"} <= set(re.findall(r"CREATE DATABASE (\w+)", init))


def test_servers_use_postgres_and_wait_for_it(compose):
    services = compose["services"]
    mlflow_env = env_of(services["mlflow"])
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://")
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert any(v.startswith("mlartifacts:/mlartifacts") for v in services["mlflow"]["volumes"])
    prefect_url = env_of(services["prefect-server"])["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert prefect_url.startswith("postgresql+asyncpg://")
    for name in ("mlflow", "prefect-server", "worker-gpu"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_worker_reserves_a_gpu_and_polls_the_deployments_pool(compose):
    worker = compose["services"]["worker-gpu"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["build"]["dockerfile"] == "docker/worker-gpu.Dockerfile"
    pool = worker["command"][worker["command"].index("--pool") + 1]
    flows_yaml = REPO / "flows" / "prefect.yaml"
    if flows_yaml.exists():
        pools = {
            d["work_pool"]["name"] for d in yaml.safe_load(flows_yaml.read_text())["deployments"]
        }
        assert pools == {pool}
    env = env_of(worker)
    assert env["RECLOOP_REGISTRY__TRACKING_URI"] == "http://mlflow:5000"
    assert env["RECLOOP_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_serve_runs_the_champion_with_the_local_env(compose):
    cmd = compose["services"]["serve"]["command"]
    assert cmd[:3] == ["mlflow", "models", "serve"]
    assert cmd[cmd.index("-m") + 1].endswith("@champion")
    assert cmd[cmd.index("--env-manager") + 1] == "local"
    assert "/ping" in " ".join(compose["services"]["serve"]["healthcheck"]["test"])


def test_secrets_come_only_from_files(compose):
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, name
    for name, service in compose["services"].items():
        for key, value in env_of(service).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|APPRISE_URLS", key):
                assert key.endswith("_FILE") and value.startswith("/run/secrets/"), (name, key)
                assert Path(value).name in service["secrets"], (name, key)
            # A database URL must not carry a password (user:password@host).
            assert not re.search(r"://[^/@:]+:[^/@]+@", str(value)), (name, key)
    ignored = (DOCKER / ".gitignore").read_text()
    assert "secrets/*" in ignored


def test_build_and_mount_paths_exist(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert context == REPO, name
            assert (context / service["build"]["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), (name, volume)
