"""Before ``champion`` moves onto a version: prove that the version still serves.

A promotion (a forced one included) or a rollback onto a version whose artifacts were
deleted or corrupted would take production down at the model server's next restart, and
the gate cannot be relied on here: a forced promotion skips it, a rollback target passed
it long ago, and artifacts can break after the fact. So the target is loaded the way
``mlflow models serve`` loads it (``mlflow.pyfunc.load_model`` on its ``models:/`` URI:
artifacts downloaded from the store, the model's ``load_context`` run) and answers one
tiny request: one row back, a non-empty answer, no NaN or infinite number. Anything else
refuses the move with one line (exit 2) before an alias changes.
"""

from __future__ import annotations

import logging
import tempfile
from typing import TYPE_CHECKING, Any

from recloop.errors import UnusableInputError
from recloop.serving.answers import inspect_output
from recloop.settings import Settings
from recloop.tracking import configure_mlflow

if TYPE_CHECKING:
    import pandas as pd

    from recloop.registry.client import ModelVersionInfo


def check_serves(settings: Settings, info: ModelVersionInfo) -> None:
    """Load ``info``'s pyfunc from the registry and score one request, or refuse.

    Args:
        settings: selects the MLflow store the version's artifacts come from.
        info: the version about to become champion.

    Raises:
        UnusableInputError: the artifacts do not download, the model does not load, or it
            does not answer a one-user request with finite numbers (exit 2).
    """
    import mlflow  # heavy: imported only when a version is about to become champion

    configure_mlflow(settings)
    # An empty or missing artifact folder is logged at INFO before the load fails: noise
    # next to the one-line refusal below.
    logging.getLogger("mlflow.store.artifact.artifact_repo").setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="recloop-load-check-") as download:
            model = mlflow.pyfunc.load_model(info.model_uri, dst_path=download)
            request = tiny_request(model)
            output = model.predict(request)
    except Exception as exc:  # any failure to load or answer refuses the move (fail closed)
        why = f"loading {info.model_uri} failed: {type(exc).__name__}: {_first_line(exc)}"
        raise _refused(info, why) from None
    answered, non_finite = inspect_output(output, len(request))  # as the gate judges it
    if answered != len(request):
        raise _refused(info, "it returned no recommendations for a one-user request")
    if non_finite:
        raise _refused(info, f"its answer holds {non_finite} NaN/infinite values")


def tiny_request(model: Any) -> pd.DataFrame:
    """One user: the history of the model's logged input example, or an empty history.

    recloop's pyfunc is logged with real item ids of its catalog as the example, so the
    request goes through the network rather than the empty-history popularity fallback.
    """
    import pandas as pd

    try:
        example = model.input_example
    except Exception:  # a model logged without an example, or one that does not parse
        example = None
    if isinstance(example, tuple):  # (data, params) when logged with params
        example = example[0]
    if isinstance(example, pd.DataFrame) and "history" in example.columns and len(example):
        history = [int(i) for i in example["history"].iloc[0]]
    else:
        history = []
    return pd.DataFrame({"history": [history]})


def _refused(info: ModelVersionInfo, why: str) -> UnusableInputError:
    return UnusableInputError(
        f"version {info.version} cannot serve, so the champion stays where it is: {why}"
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "(no message)"
