"""The GPU work-pool templates in ``docker/workpools/`` are accepted by a real Prefect server.

``prefect work-pool create --type docker|kubernetes --base-job-template FILE`` is the command
the operations guide shows; the server must store the template unchanged (no worker of
those types runs here: that needs a Docker engine or a cluster).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

POOLS = Path(__file__).resolve().parents[2] / "docker" / "workpools"


@pytest.mark.parametrize("worker_type", ["docker", "kubernetes"])
def test_server_stores_gpu_template(prefect_cli, prefect_api, worker_type):
    name = f"recloop-{worker_type}-gpu-{uuid.uuid4().hex[:6]}"
    template_file = POOLS / f"{worker_type}-gpu.json"
    prefect_cli(
        "work-pool", "create", name, "--type", worker_type,
        "--base-job-template", str(template_file),
    )  # fmt: skip
    pool = prefect_api.get(f"work_pools/{name}").raise_for_status().json()
    assert pool["type"] == worker_type
    assert pool["base_job_template"] == json.loads(template_file.read_text())
