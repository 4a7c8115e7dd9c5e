"""The MLflow pyfunc that serves a recloop model (logged as models-from-code).

Request (``/invocations``), one row per user::

    {"dataframe_records": [{"history": [50, 181, 1]}, {"history": []}],
     "params": {"k": 10, "diversity_lambda": 0.7, "exclude": [258]}}

An optional ``scenario`` column names the scenario, an optional ``timestamp`` column (Unix
seconds) says when the request is made (new arrivals are new relative to it; default:
now). Each answer row holds ``item_ids``, ``scores``, ``because_item_ids`` (the history
item each recommendation is most similar to; null for an empty history, which gets
popular-and-diverse items), ``titles`` and ``unknown_item_ids`` (history ids not in the
catalog: ignored, and reported here).

Limits (``recloop.settings.ServingSettings``, written into the model config when the
version is logged; ``MLFLOW_PYFUNC_INFERENCE_CONFIG='{"max_k": 50}'`` overrides them when
the server starts): ``k`` at most ``max_k``, at most ``max_rows`` rows, at most
``max_history_length`` ids in ``exclude``, MMR over at most ``max_mmr_pool`` candidates.
A request over a limit is refused with HTTP 400 and a short message that names the limit
and never repeats the request's data.

A history longer than ``max_history_length`` is cut to its most recent ids, not refused.
The user tower reads only the last ``max_len`` known items, so the ranking is the same;
what the older ids still did (keep items the user already has out of the answer, explain
a recommendation) is worth less than answering the most engaged users at all. The limit
(2000 by default, 40 times the default window) bounds the work per row; cutting to the
window itself would hand back items the user had just seen. ``exclude`` is refused
instead: an excluded item must never come back.

What the model cannot guard under ``mlflow models serve``: MLflow's scoring server reads
and parses the whole body before ``predict`` runs (no size limit), answers a body without a
``Content-Type`` header with 500, and echoes the body in its own parse errors (invalid
JSON, wrong column types). ``recloop serve`` runs the same scoring server behind
``recloop.serving.http_guard``, which closes those three gaps.
"""

from __future__ import annotations

import math
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from recloop.errors import RecloopError
from recloop.serving.http_guard import REJECTED_ERROR_CLASS
from recloop.serving.recommender import Recommender
from recloop.settings import ServingSettings

MODEL_DIR_ARTIFACT = "model_dir"
HISTORY_COL = "history"
SCENARIO_COL = "scenario"
TIMESTAMP_COL = "timestamp"
OUTPUT_COLUMNS = ["item_ids", "scores", "because_item_ids", "titles", "unknown_item_ids"]
# Largest plausible request time in Unix seconds (year 5138): a larger one is not a time.
MAX_TIMESTAMP = 1e11


class RequestRejected(MlflowException):
    """A request the model refuses: HTTP 400 with exactly this message.

    MLflow's scoring server rewrites the message of an ``MlflowException`` raised by
    ``predict`` to ``"Failed to predict data '<the whole input>'. Error: ..."``, which sends
    the request back in the error body. This class keeps the message it was created with.
    """

    def __init__(self, message: str) -> None:
        super().__init__(
            message, error_code=INVALID_PARAMETER_VALUE, error_class=REJECTED_ERROR_CLASS
        )

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_message"):  # set once, by MlflowException.__init__
            self._message = value


def serving_limits(model_config: dict[str, Any] | None) -> ServingSettings:
    """The ``ServingSettings`` of a model config; defaults for keys it lacks (a version
    logged before the limits existed has none)."""
    from pydantic import ValidationError

    known = set(ServingSettings.model_fields)
    try:
        return ServingSettings(**{k: v for k, v in (model_config or {}).items() if k in known})
    except ValidationError as exc:
        raise MlflowException(f"invalid serving limits in the model config: {exc}") from None


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _integer_list(value: Any, what: str, limit: int, keep_recent: bool = False) -> list[int]:
    """``value`` as a list of at most ``limit`` integer ids (None or NaN: empty); a longer
    one is refused, or cut to its last ``limit`` ids with ``keep_recent``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str | bytes | dict) or not hasattr(value, "__len__"):
        raise RequestRejected(f"{what} must be a list of integer item ids")
    if len(value) > limit:
        if not keep_recent:
            raise RequestRejected(f"{what} holds more than {limit} item ids (the serving limit)")
        value = (
            value[-limit:] if isinstance(value, list | tuple | np.ndarray) else [*value][-limit:]
        )
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
        return value.astype(np.int64, copy=False).tolist()
    values = list(value)
    if not all(_is_integer(v) for v in values):
        raise RequestRejected(f"{what} must be a list of integer item ids")
    return [int(v) for v in values]


def _request_params(params: dict | None, limits: ServingSettings) -> tuple[int, float, list[int]]:
    """(k, diversity lambda, exclude) checked against the limits."""
    params = params or {}
    k = params.get("k", 10)
    if not _is_integer(k) or not 1 <= k <= limits.max_k:
        raise RequestRejected(f"k must be an integer from 1 to {limits.max_k}")
    lam = params.get("diversity_lambda", 1.0)
    if _is_integer(lam):
        lam = float(lam)
    if not isinstance(lam, float | np.floating) or not 0.0 <= lam <= 1.0:
        raise RequestRejected("diversity_lambda must be a number in [0, 1]")
    exclude = _integer_list(params.get("exclude"), "exclude", limits.max_history_length)
    return int(k), float(lam), exclude


def _optional(frame: pd.DataFrame, column: str, pos: int) -> Any:
    """The row's value of an optional column, None when the column or value is missing."""
    if column not in frame.columns:
        return None
    value = frame[column].iloc[pos]
    return None if value is None or (np.ndim(value) == 0 and pd.isna(value)) else value


def _timestamp(value: Any, row: int) -> float | None:
    if value is None:
        return None
    try:
        at = float(value)
    except (TypeError, ValueError):
        at = math.nan
    if not abs(at) <= MAX_TIMESTAMP:  # also NaN and infinities
        raise RequestRejected(
            f"timestamp of row {row} must be Unix seconds of magnitude at most {MAX_TIMESTAMP:g}"
        )
    return at


class RecloopPyfunc(mlflow.pyfunc.PythonModel):
    """Top-K recommendations with MMR and explanations for each input history."""

    def load_context(self, context: Any) -> None:
        self.limits = serving_limits(getattr(context, "model_config", None))
        self.recommender = Recommender.load(context.artifacts[MODEL_DIR_ARTIFACT])
        self.recommender.max_mmr_pool = self.limits.max_mmr_pool

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        if not isinstance(model_input, pd.DataFrame) or HISTORY_COL not in model_input.columns:
            raise RequestRejected(f"input needs a {HISTORY_COL!r} column of item-id lists")
        if len(model_input) > self.limits.max_rows:
            raise RequestRejected(
                f"a request holds at most {self.limits.max_rows} rows (the serving limit)"
            )
        k, lam, exclude = _request_params(params, self.limits)
        rows = []
        for pos, value in enumerate(model_input[HISTORY_COL]):
            history = _integer_list(
                value, f"history of row {pos}", self.limits.max_history_length, keep_recent=True
            )
            scenario = _optional(model_input, SCENARIO_COL, pos)
            at = _timestamp(_optional(model_input, TIMESTAMP_COL, pos), pos)
            try:
                recs, unknown = self.recommender.recommend_with_report(
                    history,
                    k=k,
                    diversity_lambda=lam,
                    exclude=exclude,
                    scenario=None if scenario is None else str(scenario),
                    at=at,
                )
            except RecloopError as exc:
                raise RequestRejected(str(exc)) from None
            rows.append(
                {
                    "item_ids": [r["item_id"] for r in recs],
                    "scores": [r["score"] for r in recs],
                    "because_item_ids": [r["because_item_id"] for r in recs],
                    "titles": [r["title"] for r in recs],
                    "unknown_item_ids": unknown,
                }
            )
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


mlflow.models.set_model(RecloopPyfunc())
