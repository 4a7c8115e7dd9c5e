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
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

MODEL_DIR_ARTIFACT = "model_dir"
HISTORY_COL = "history"
SCENARIO_COL = "scenario"
TIMESTAMP_COL = "timestamp"


def _bad_request(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)  # HTTP 400


def _optional(frame: pd.DataFrame, column: str, pos: int) -> Any:
    """The row's value of an optional column, None when the column or value is missing."""
    if column not in frame.columns:
        return None
    value = frame[column].iloc[pos]
    return None if value is None or (not isinstance(value, list) and pd.isna(value)) else value


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad_request(f"timestamp must be Unix seconds, got {value!r}") from None


def _history(value: Any) -> list[int]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        raise _bad_request(f"history must be a list of integer item ids, got {value!r}") from None


class RecloopPyfunc(mlflow.pyfunc.PythonModel):
    """Top-K recommendations with MMR and explanations for each input history."""

    def load_context(self, context: Any) -> None:
        from recloop.serving.recommender import Recommender

        self.recommender = Recommender.load(context.artifacts[MODEL_DIR_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from recloop.errors import RecloopError

        params = params or {}
        if not isinstance(model_input, pd.DataFrame) or HISTORY_COL not in model_input.columns:
            raise _bad_request(f"input needs a {HISTORY_COL!r} column of item-id lists")
        try:
            k = int(params.get("k", 10))
            lam = float(params.get("diversity_lambda", 1.0))
            exclude = [int(v) for v in (params.get("exclude") or [])]
        except (TypeError, ValueError) as exc:
            raise _bad_request(f"bad params: {exc}") from None
        rows = []
        for pos, value in enumerate(model_input[HISTORY_COL]):
            scenario = _optional(model_input, SCENARIO_COL, pos)
            at = _timestamp(_optional(model_input, TIMESTAMP_COL, pos))
            try:
                recs, unknown = self.recommender.recommend_with_report(
                    _history(value),
                    k=k,
                    diversity_lambda=lam,
                    exclude=exclude,
                    scenario=None if scenario is None else str(scenario),
                    at=at,
                )
            except RecloopError as exc:
                raise _bad_request(str(exc)) from None
            rows.append(
                {
                    "item_ids": [r["item_id"] for r in recs],
                    "scores": [r["score"] for r in recs],
                    "because_item_ids": [r["because_item_id"] for r in recs],
                    "titles": [r["title"] for r in recs],
                    "unknown_item_ids": unknown,
                }
            )
        return pd.DataFrame(
            rows, columns=["item_ids", "scores", "because_item_ids", "titles", "unknown_item_ids"]
        )


mlflow.models.set_model(RecloopPyfunc())
