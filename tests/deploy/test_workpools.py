"""Work-pool base job templates (Docker, Kubernetes) that run recloop flows on a GPU.

Checked with Prefect's own pieces: the server-side ``WorkPoolCreate`` validator, Prefect's
bundled default template for each worker type (ours must keep every field its worker
reads), and Prefect's template rendering (``apply_values``). The rendered Docker request is
handed to docker-py's ``HostConfig`` (what prefect-docker calls), the Kubernetes one is
checked on the pod spec. ``tests/integration`` also creates both pools on a real server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POOLS = REPO / "docker" / "workpools"


def bundled_default(worker_type: str) -> dict:
    """Prefect's own default base job template for a worker type (collections registry)."""
    import prefect

    meta = Path(prefect.__file__).parent / (
        "server/api/collections_data/views/aggregate-worker-metadata.json"
    )
    for workers in json.loads(meta.read_text()).values():
        if worker_type in workers:
            return workers[worker_type]["default_base_job_configuration"]
    raise LookupError(worker_type)


def render(template: dict, values: dict | None = None) -> dict:
    """The job configuration a worker would get: variable defaults, then overrides."""
    from prefect.utilities.templating import apply_values

    props = template["variables"]["properties"]
    variables = {k: v["default"] for k, v in props.items() if "default" in v} | (values or {})
    return apply_values(template["job_configuration"], variables)


@pytest.fixture(params=["docker", "kubernetes"])
def pool(request) -> tuple[str, dict]:
    return request.param, json.loads((POOLS / f"{request.param}-gpu.json").read_text())


def test_template_passes_prefects_server_validation(pool):
    from prefect.server.schemas.actions import WorkPoolCreate

    worker_type, template = pool
    created = WorkPoolCreate(name=f"recloop-{worker_type}-gpu", type=worker_type,
                             base_job_template=template)  # fmt: skip
    assert created.base_job_template == template


def test_template_keeps_every_field_of_prefects_default(pool):
    worker_type, template = pool
    default = bundled_default(worker_type)
    assert set(default["job_configuration"]) <= set(template["job_configuration"])
    assert set(default["variables"]["properties"]) <= set(template["variables"]["properties"])


def test_variable_defaults_satisfy_their_schema(pool):
    import jsonschema

    _, template = pool
    for prop in template["variables"]["properties"].values():
        if "default" in prop:
            schema = {k: v for k, v in prop.items() if k != "allOf"}
            jsonschema.validate(prop["default"], schema)


def test_docker_template_requests_gpus_through_docker_py():
    from docker.types import HostConfig

    template = json.loads((POOLS / "docker-gpu.json").read_text())
    job = render(template)
    assert job["image"].startswith("recloop/worker-gpu:")
    assert job["env"]["RECLOOP_TRAIN__DEVICE"] == "cuda"
    kwargs = job["container_create_kwargs"]
    host = HostConfig(version="1.45", device_requests=kwargs["device_requests"])
    (request,) = host["DeviceRequests"]
    assert request["Driver"] == "nvidia" and request["Count"] == -1
    assert request["Capabilities"] == [["gpu"]]
    one = render(
        template,
        {"container_create_kwargs": {"device_requests": [{"count": 1, "capabilities": [["gpu"]]}]}},
    )
    assert one["container_create_kwargs"]["device_requests"][0]["count"] == 1


def test_kubernetes_template_requests_gpus_on_the_pod():
    template = json.loads((POOLS / "kubernetes-gpu.json").read_text())
    job = render(template, {"gpu_count": 2, "node_selector": {"gpu": "h100"}})
    manifest = job["job_manifest"]
    assert manifest["kind"] == "Job" and manifest["apiVersion"] == "batch/v1"
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert container["image"].startswith("recloop/worker-gpu:")
    assert container["securityContext"]["runAsNonRoot"] is True
    assert pod["nodeSelector"] == {"gpu": "h100"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert (
        render(template)["job_manifest"]["spec"]["template"]["spec"]["containers"][0]["resources"][
            "limits"
        ]["nvidia.com/gpu"]
        == 1
    )
