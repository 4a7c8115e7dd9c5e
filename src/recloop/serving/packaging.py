"""Log a model directory as an MLflow pyfunc (models-from-code) and register it.

The logged model carries the whole model directory as an artifact and recloop's own code
(``code_paths``), so ``mlflow models serve -m models:/recloop-recommender@champion
--env-manager local`` runs in a fresh process with no network and no training workspace.
Requirements are listed explicitly: inferring them makes MLflow load the model (~15 s).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from recloop.model.artifacts import load_items
from recloop.settings import ServingSettings

MODEL_NAME_IN_RUN = "model"


def pip_requirements() -> list[str]:
    """What the serving process needs (pinned to what trained the model)."""
    import mlflow
    import pandas
    import pydantic_settings
    import safetensors
    import torch

    torch_version = torch.__version__.split("+", 1)[0]
    return [
        f"mlflow=={mlflow.__version__}",
        f"torch=={torch_version}",
        f"numpy=={np.__version__}",
        f"pandas=={pandas.__version__}",
        f"safetensors=={safetensors.__version__}",
        # the serving limits are validated by recloop.settings.ServingSettings
        f"pydantic-settings=={pydantic_settings.__version__}",
        "pyarrow",
    ]


def signature():
    """Input (history, optional scenario and timestamp), output lists, params k /
    diversity_lambda / exclude."""
    from mlflow.models import ModelSignature
    from mlflow.types import DataType
    from mlflow.types.schema import Array, ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema(
        [
            ColSpec(Array(DataType.long), "history"),
            ColSpec(DataType.string, "scenario", required=False),
            ColSpec(DataType.double, "timestamp", required=False),
        ]
    )
    outputs = Schema(
        [
            ColSpec(Array(DataType.long), "item_ids"),
            ColSpec(Array(DataType.double), "scores"),
            ColSpec(Array(DataType.long), "because_item_ids"),
            ColSpec(Array(DataType.string), "titles"),
            ColSpec(Array(DataType.long), "unknown_item_ids"),
        ]
    )
    params = ParamSchema(
        [
            ParamSpec("k", DataType.long, 10),
            ParamSpec("diversity_lambda", DataType.double, 1.0),
            ParamSpec("exclude", DataType.long, [], shape=(-1,)),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_recommender(
    model_dir: str | Path,
    *,
    registered_model_name: str | None,
    serving: ServingSettings | None = None,
) -> tuple[str, str | None]:
    """Log ``model_dir`` as a pyfunc in the active MLflow run, optionally registering it.

    Args:
        model_dir: a model directory written by training.
        registered_model_name: registry name, or None to log only.
        serving: request limits written into the model config, so that a model server
            without a recloop workspace enforces them (default: ``ServingSettings()``).

    Returns:
        tuple: (model URI: ``models:/<name>/<version>`` when registered, else the logged
        model's URI; the registered version or None).
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    import pandas as pd

    import recloop  # the package's own folder: shipped as the model's code
    from recloop.serving import pyfunc_model  # imports mlflow (seconds): only when logging

    serving = serving or ServingSettings()
    model_dir = Path(model_dir)
    example_ids = load_items(model_dir)["item_id"].head(3).astype("int64").tolist()
    info = mlflow.pyfunc.log_model(
        name=MODEL_NAME_IN_RUN,
        python_model=pyfunc_model.__file__,
        artifacts={pyfunc_model.MODEL_DIR_ARTIFACT: str(model_dir)},
        model_config=serving.model_dump(),
        code_paths=[str(Path(recloop.__file__).parent)],
        signature=signature(),
        input_example=(
            pd.DataFrame({"history": [example_ids]}),
            {"k": 10, "diversity_lambda": 0.7},
        ),
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model_name,
    )
    version = info.registered_model_version
    if registered_model_name and version is not None:
        return f"models:/{registered_model_name}/{version}", str(version)
    return info.model_uri, None
