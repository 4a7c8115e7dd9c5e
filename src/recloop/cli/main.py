"""Entry point of the ``recloop`` command.

Each stage registers its commands from its own module; heavy libraries (torch, mlflow,
evidently, prefect) are imported inside the commands, so ``recloop --help`` stays fast.
"""

from __future__ import annotations

import os

import typer

from recloop.cli import data, drift, evaluate, loop, model, simulate

# Never reach for the internet at run time: models load from local files only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    name="recloop",
    help="Continual retraining for language-model-based recommenders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for stage in (data, model, evaluate, drift, loop, simulate):
    stage.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
