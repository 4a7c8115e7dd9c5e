"""Screenshots of what an operator sees: the MLflow registry UI and the Prefect UI.

    .venv/bin/python docs/screenshots.py                 # a short replay, then screenshots
    .venv/bin/python docs/screenshots.py --steps 6 --out docs/screenshots

What it does, as a new user would after ``make simulate``:

1. starts ``prefect server`` (its own PREFECT_HOME under the work folder, UI on);
2. runs ``recloop simulate movielens-100k --steps N`` against that server, so every loop
   step is a ``continual`` flow run with its name, state message and artifacts;
3. starts ``mlflow ui`` on the simulation's workspace (``mlflow.db`` and its artifacts);
4. finds, over the two REST APIs, a promoted and a rejected model version, the training
   experiment and the newest continual flow run;
5. opens each page in headless Chromium (Debian's ``chromium``) with no network beyond
   127.0.0.1 and saves a PNG per page into ``--out``.

A replay with no rejected step (rare: it depends on the data) skips that screenshot and says
so. Every server is stopped however the script ends. Needs ``chromium`` on PATH
(``apt-get install chromium``) and ``RECLOOP_DATA_DIR`` (or ``../shared/datasets``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from cdp import Browser  # docs/cdp.py, beside this script

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
MODEL_NAME = "recloop-recommender"
STEP_KEY = "continual-step"  # the continual flow's Markdown artifact (recloop.loop.flows)
# The runs table: headline metrics and the mode in, wide attribute columns out.
RUN_COLUMNS_OFF = ["Dataset", "Source"]
RUN_COLUMNS_ON = ["train_mode", "ndcg_at_10", "recall_at_10", "mrr_at_10", "ild_at_10",
                  "coverage_at_10", "diag/train_seconds"]  # fmt: skip
CLOSE_POPUPS = (
    "[...document.querySelectorAll('button[aria-label=Close]')].reverse()"
    ".forEach(button => button.click())"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(args: list[str], env: dict[str, str], log: Path, health: str) -> Iterator[None]:
    """Run ``args`` in its own process group until ``health`` answers; stop it on exit."""
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            args, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"{args[0]} exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            sys.exit(f"{health} did not answer within 120 s; see {log}")
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def child_env(work: Path) -> dict[str, str]:
    """Offline, quiet, and pointed at this script's servers only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECLOOP_", "PREFECT_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PREFECT_HOME=str(work / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        RECLOOP_HOME=str(work / "home"),
        RECLOOP_DATA_DIR=os.environ.get(
            "RECLOOP_DATA_DIR", str(REPO.parent / "shared" / "datasets")
        ),
    )
    return env


def versions_by_decision(mlflow_url: str) -> dict[str, str]:
    """The newest version per gate decision ("promoted" = ever champion, "rejected")."""
    api = f"{mlflow_url}/api/2.0/mlflow"
    found = httpx.get(
        f"{api}/model-versions/search",
        params={"filter": f"name='{MODEL_NAME}'", "max_results": 1000},
        timeout=30,
    ).json()
    out: dict[str, str] = {}
    for version in sorted(found.get("model_versions", []), key=lambda v: int(v["version"])):
        tags = {t["key"]: t["value"] for t in version.get("tags", [])}
        if "recloop.promoted_at" in tags:
            out["promoted"] = version["version"]
        if tags.get("recloop.gate.decision") == "rejected":
            out["rejected"] = version["version"]
    return out


def experiment_id(mlflow_url: str, name: str) -> str:
    """The id of the experiment ``name``."""
    answer = httpx.get(
        f"{mlflow_url}/api/2.0/mlflow/experiments/get-by-name",
        params={"experiment_name": name},
        timeout=30,
    ).json()
    return answer["experiment"]["experiment_id"]


def newest_flow_run(prefect_api: str, flow_name: str) -> str:
    """The id of the newest completed run of ``flow_name``."""
    runs = httpx.post(
        f"{prefect_api}/flow_runs/filter",
        json={
            "flows": {"name": {"any_": [flow_name]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
            "sort": "START_TIME_DESC",
            "limit": 1,
        },
        timeout=30,
    ).json()
    if not runs:
        sys.exit(f"no completed {flow_name!r} flow run on {prefect_api}")
    return runs[0]["id"]


def replay(work: Path, env: dict[str, str], steps: int) -> Path:
    """Run the short replay against the Prefect server in ``env``; returns its workspace."""
    workspace = work / "simulation"
    print(f"replaying {steps} windows of movielens-100k (minutes) ...", flush=True)
    started = time.monotonic()
    with (work / "simulate.json").open("w") as out:
        subprocess.run(
            [str(BIN / "recloop"), "simulate", "movielens-100k", "--steps", str(steps),
             "--no-full-retrain", "--workspace", str(workspace), "--json"],
            env=env, check=True, stdout=out,
        )  # fmt: skip
    print(f"replay done in {time.monotonic() - started:.0f} s", flush=True)
    return workspace


def continual_artifact(prefect_api: str, flow_run_id: str) -> str | None:
    """The id of the flow run's ``continual-step`` Markdown artifact, if it has one."""
    found = httpx.post(
        f"{prefect_api}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": [STEP_KEY]}}},
        timeout=30,
    ).json()
    return found[0]["id"] if found else None


def shoot_mlflow(browser: Browser, mlflow_url: str, out: Path) -> None:
    """The model list, the model's page, a promoted and a rejected version, the runs table."""
    browser.open(f"{mlflow_url}/#/models", MODEL_NAME)
    browser.js(CLOSE_POPUPS)  # first-visit pop-ups: the registry promo, the assistant
    browser.click_text("Model training")  # the runs table, not the GenAI overview
    browser.open(f"{mlflow_url}/#/models", MODEL_NAME)
    save(browser, out / "mlflow-models.png")
    browser.open(f"{mlflow_url}/#/models/{MODEL_NAME}", "Champion")
    save(browser, out / "mlflow-model.png")
    found = versions_by_decision(mlflow_url)
    for decision in ("promoted", "rejected"):
        if decision not in found:
            print(f"no {decision} version in this replay: no screenshot of one")
            continue
        browser.open(f"{mlflow_url}/#/models/{MODEL_NAME}/versions/{found[decision]}", "Links")
        save(browser, out / f"mlflow-version-{decision}.png", height=1400)
    runs = f"{mlflow_url}/#/experiments/{experiment_id(mlflow_url, 'recloop')}/runs"
    browser.open(runs, "incremental")
    browser.click_text("Columns")
    for column in RUN_COLUMNS_OFF + RUN_COLUMNS_ON:
        browser.click_text(column)
        time.sleep(0.5)
    browser.click_text("Columns")
    save(browser, out / "mlflow-runs.png")


def shoot_prefect(browser: Browser, prefect_api: str, out: Path) -> None:
    """The flow runs list, the newest continual run's page and its step artifact."""
    ui = prefect_api.removesuffix("/api")
    browser.open(f"{ui}/runs", "continual")
    save(browser, out / "prefect-runs.png")
    run_id = newest_flow_run(prefect_api, "continual")
    browser.open(f"{ui}/runs/flow-run/{run_id}", "continual")
    browser.click_text("Artifacts")
    time.sleep(2)
    save(browser, out / "prefect-flow-run.png")
    artifact = continual_artifact(prefect_api, run_id)
    if artifact is None:
        print(f"flow run {run_id} has no {STEP_KEY} artifact: no screenshot of it")
        return
    browser.open(f"{ui}/artifacts/artifact/{artifact}", "Gate")
    save(browser, out / "prefect-artifact.png", height=1400)


def shoot_data_docs(browser: Browser, workspace: Path, out: Path) -> None:
    """The Great Expectations Data Docs of the replay's batches, opened from disk."""
    index = workspace / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    if index.exists():
        browser.open(index.as_uri(), "Ingested batches")
        save(browser, out / "data-docs.png")


def save(browser: Browser, path: Path, height: int | None = None) -> None:
    """Close what pops up, then save the page's top ``height`` pixels (default: the view)."""
    browser.js(CLOSE_POPUPS)
    time.sleep(1)
    browser.screenshot(path, height)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="windows the replay runs")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--skip-replay", action="store_true", help="reuse the replay already in --work"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="recloop-screens-"))
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    env = child_env(work)
    prefect_port, mlflow_port = free_port(), free_port()
    prefect_api = f"http://127.0.0.1:{prefect_port}/api"
    prefect_cmd = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                   "--port", str(prefect_port)]  # fmt: skip
    # The UI is a static app that calls the API from the browser: tell it where.
    server_env = env | {"PREFECT_UI_API_URL": prefect_api}
    with server(prefect_cmd, server_env, work / "prefect.log", f"{prefect_api}/health"):
        mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        # The UIs' addresses are known before the replay, so its links (version
        # descriptions, Prefect artifacts, alerts) open in them.
        links = {
            "PREFECT_API_URL": prefect_api,
            "RECLOOP_NOTIFY__MLFLOW_UI_URL": mlflow_url,
            "RECLOOP_NOTIFY__PREFECT_UI_URL": prefect_api.removesuffix("/api"),
        }
        if args.skip_replay:  # screenshots again of an earlier run's --work folder
            workspace = work / "simulation"
        else:
            workspace = replay(work, env | links, args.steps)
        mlflow_cmd = [str(BIN / "mlflow"), "ui", "--backend-store-uri",
                      f"sqlite:///{workspace / 'mlflow.db'}", "--host", "127.0.0.1",
                      "--port", str(mlflow_port), "--workers", "1"]  # fmt: skip
        with (
            server(mlflow_cmd, env, work / "mlflow.log", f"{mlflow_url}/health"),
            Browser(width=1800, height=1000) as browser,
        ):
            shoot_mlflow(browser, mlflow_url, args.out)
            shoot_prefect(browser, prefect_api, args.out)
            shoot_data_docs(browser, workspace, args.out)
    print(f"screenshots in {args.out}; work folder {work}")


if __name__ == "__main__":
    main()
