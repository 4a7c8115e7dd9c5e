"""Infrastructure checks on the challenger's pyfunc, as ``mlflow models serve`` runs it.

Kept apart from the holdout evaluation (as TFX keeps InfraValidator apart from Evaluator):
the registered pyfunc answers every holdout user (in requests of at most its ``max_rows``),
returns no NaN or infinite number, meets the p95 one-user latency budget, and loads in a
fresh Python process (code not shipped with the model shows up only there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from recloop.gate.decision import InfraProbe
from recloop.gate.policy import GatePolicy
from recloop.serving.answers import inspect_output
from recloop.settings import Settings

_FRESH_LOAD_CODE = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
out = model.predict(pd.DataFrame({"history": [json.loads(sys.argv[2])]}))
print("answered", len(out))
"""


def load_in_fresh_process(
    settings: Settings, model_uri: str, history: list[int], timeout: float
) -> tuple[bool, str]:
    """Load ``model_uri`` with ``mlflow.pyfunc`` in a new Python and answer one request.

    Catches what in-process checks cannot: code not shipped with the model, imports that
    only worked because the trainer had them loaded. Returns (ok, last line of output).
    """
    env = dict(os.environ)
    env.update(
        MLFLOW_TRACKING_URI=settings.mlflow_tracking_uri.get_secret_value(),
        MLFLOW_REGISTRY_URI=settings.mlflow_tracking_uri.get_secret_value(),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    request = json.dumps([int(i) for i in history])
    args = [sys.executable, "-c", _FRESH_LOAD_CODE, model_uri, request]
    try:
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f} s"
    if proc.returncode == 0:
        return True, "ok"
    lines = (proc.stdout + proc.stderr).strip().splitlines() or [f"exit code {proc.returncode}"]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return False, (errors or lines)[-1][:500]


def probe_pyfunc(
    model_uri: str, histories: list[list[int]], policy: GatePolicy
) -> tuple[int, int, float | None]:
    """Answer every holdout user through the registered pyfunc, then time one-user calls.

    Returns (users answered, non-finite numbers in the output, p95 latency in ms). The
    latency is measured on the pyfunc, as ``mlflow models serve`` runs it, after one
    warm-up call.
    """
    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model(model_uri)
    frame = pd.DataFrame({"history": [[int(i) for i in h] for h in histories]})
    # As a client would: requests of at most the model's serving limit of rows.
    rows = int((model.model_config or {}).get("max_rows") or len(frame))
    if len(frame) <= rows:
        output = model.predict(frame)
    else:
        parts = [model.predict(frame.iloc[i : i + rows]) for i in range(0, len(frame), rows)]
        output = pd.concat(parts, ignore_index=True)
    answered, non_finite = inspect_output(output, len(frame))
    n = min(policy.infrastructure.latency_requests, len(frame))
    model.predict(frame.iloc[:1])
    timings = []
    for row in range(n):
        start = time.perf_counter()
        model.predict(frame.iloc[row : row + 1])
        timings.append((time.perf_counter() - start) * 1000)
    p95 = float(np.percentile(timings, 95)) if timings else None
    return answered, non_finite, p95


def probe(
    settings: Settings, uri: str, cases: Any, policy: GatePolicy, non_finite_scores: int
) -> InfraProbe:
    histories = case_histories(cases)
    answered, non_finite_output, p95 = probe_pyfunc(uri, histories, policy)
    infra = policy.infrastructure
    fresh_ok, fresh_detail = None, "not run"
    if infra.fresh_process_load:
        sample = histories[0] if histories else []
        fresh_ok, fresh_detail = load_in_fresh_process(
            settings, uri, list(sample), infra.load_timeout_seconds
        )
    return InfraProbe(
        fresh_ok,
        fresh_detail,
        answered,
        len(histories),
        non_finite_scores + non_finite_output,
        p95,
    )


def case_histories(cases: Any) -> list[list[int]]:
    """One request per holdout user: the history of the user's latest case.

    Next-window cases repeat users (one case per held-out event); probing every case would
    ask the same user many times for nothing.
    """
    latest: dict[int, list[int]] = {}
    for user, history in zip(cases.user_ids, cases.histories, strict=True):
        latest[int(user)] = [int(i) for i in history]
    return list(latest.values())
