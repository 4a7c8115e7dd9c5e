"""CLI commands of the model stage."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this stage's commands to the root app."""
