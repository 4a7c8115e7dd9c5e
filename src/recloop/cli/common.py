"""Shared CLI plumbing: settings, one-line errors, JSON output, progress bars.

The contract every command follows:
- ``--json``: the last line of stdout is exactly one JSON object; human text goes to stderr.
- Expected failures (``RecloopError``) print one line ``error: ...`` on stderr and exit with
  the error's code (2 unusable input, 3 rejected); anything else is a bug: exit 1 with one
  line, and the traceback only when ``RECLOOP_DEBUG=1``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from recloop.errors import RecloopError
from recloop.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

# Human-facing output goes to stderr so that stdout stays machine-readable with --json.
err_console = Console(stderr=True)
out_console = Console()


def load_settings() -> Settings:
    """Settings from the environment (``RECLOOP_HOME`` selects the workspace)."""
    return Settings()


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as the single last line of stdout."""
    sys.stdout.write(json.dumps(payload, default=_json_default, sort_keys=False) + "\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    """Make numpy scalars, paths and datetimes JSON-safe."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def fail(message: str, exit_code: int = 2) -> typer.Exit:
    """Print one clear line and return the Exit to raise: ``raise fail("...")``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=exit_code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn exceptions into one stderr line and the contract's exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RecloopError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as exc:
            if os.environ.get("RECLOOP_DEBUG"):
                raise
            message = (
                f"internal error: {type(exc).__name__}: {exc} (RECLOOP_DEBUG=1 shows the traceback)"
            )
            raise fail(message.replace("\n", " "), 1) from None

    return wrapper


@contextmanager
def progress(description: str, total: int | None = None, disable: bool = False) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a callable ``advance(n=1)``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=disable,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1, **fields: Any) -> None:
            bar.update(task, advance=n, **fields)

        yield advance
