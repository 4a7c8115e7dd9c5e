"""Shared CLI plumbing: settings, one-line errors, JSON output, progress bars.

The contract every command follows:
- ``--json``: the last line of stdout is exactly one JSON object; human text goes to stderr.
- Expected failures (``RecloopError``) print one line ``error: ...`` on stderr and exit with
  the error's code (2 unusable input, 3 rejected); anything else is a bug: exit 1 with one
  line, and the traceback only when ``RECLOOP_DEBUG=1``.
- The operating system refusing a path the operator chose (disk full, a directory where a
  file is wanted, an existing file, no permission: :data:`OPERATOR_ERRNOS`) is unusable
  input too: exit 2, one line naming the path.
- An interrupt (Ctrl-C, ``SIGTERM`` during training) exits 128 + the signal's number
  (130, 143), as shells report a process ended by that signal.
- A reader that stops reading (``recloop status --json | head -1``) is not an error: the
  rest of stdout is discarded silently and the command ends with the exit code it would
  have had anyway (0, or 3 for a rejected batch), so the status does not depend on how
  fast the reader went away. Python would otherwise print a BrokenPipeError traceback;
  coreutils die of SIGPIPE (141), which makes ``set -o pipefail`` scripts fail at random.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import select
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from recloop.errors import RecloopError, UnusableInputError
from recloop.settings import Settings
from recloop.settings_errors import read_settings

P = ParamSpec("P")
R = TypeVar("R")


class _QuietOnClosedPipe(Console):
    """A console that goes quiet when its reader leaves (rich's default exits with 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _discard(self.file)


# Human-facing output goes to stderr so that stdout stays machine-readable with --json.
err_console = _QuietOnClosedPipe(stderr=True)
out_console = _QuietOnClosedPipe()

# OSError numbers that mean "the path or device the operator chose cannot be used", not a
# bug: reported as unusable input (exit 2) with the path, never as an internal error.
OPERATOR_ERRNOS = frozenset(
    {
        errno.ENOSPC,  # disk (or /dev/full) full
        errno.EDQUOT,  # quota exceeded
        errno.EROFS,  # read-only file system
        errno.EISDIR,  # a directory where a file was wanted
        errno.ENOTDIR,  # a file where a directory was wanted
        errno.EEXIST,  # a file already where a directory was to be made
        errno.EACCES,  # no permission
        errno.EPERM,
        errno.ENAMETOOLONG,
        errno.EPIPE,  # a connection's peer went away (stdout's reader: see handle_errors)
    }
)


def load_settings() -> Settings:
    """Settings from the environment (``RECLOOP_HOME`` selects the workspace).

    A bad value (``RECLOOP_INGEST__MAX_BAD_FRACTION=abc``) raises ``UnusableInputError``
    naming the variable and what it expects, never echoing the value (it may be a secret).
    """
    return read_settings()


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as the single last line of stdout (dropped if no one reads it)."""
    try:
        sys.stdout.write(json.dumps(payload, default=_json_default, sort_keys=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        if not _reader_gone(sys.stdout):
            raise
        _discard(sys.stdout)


def _json_default(value: Any) -> Any:
    """Make numpy scalars, paths and datetimes JSON-safe."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def fail(message: str, exit_code: int = 2) -> typer.Exit:
    """Print one clear line and return the Exit to raise: ``raise fail("...")``."""
    from rich.markup import escape

    try:  # escaped: a path or value like "[bold]" is text, not markup
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    except BrokenPipeError:  # stderr's reader is gone too: the exit code still tells
        _discard(sys.stderr)
    return typer.Exit(code=exit_code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn exceptions into one stderr line and the contract's exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as exc:  # recloop.errors.Interrupted carries its signal
            raise fail(str(exc) or "interrupted", getattr(exc, "exit_code", 130)) from None
        except Exception as exc:
            abandoned = _abandoned_stream(exc)
            if abandoned is not None:
                _discard(abandoned)  # all that was left to do was output no one reads
                raise typer.Exit(code=0) from None
            expected = operator_error(exc)
            if expected is not None:
                raise fail(str(expected), expected.exit_code) from None
            if os.environ.get("RECLOOP_DEBUG"):
                raise
            message = (
                f"internal error: {type(exc).__name__}: {exc} (RECLOOP_DEBUG=1 shows the traceback)"
            )
            raise fail(message.replace("\n", " "), 1) from None

    return wrapper


def operator_error(exc: BaseException) -> RecloopError | None:
    """The operator-facing error ``exc`` stands for, or None when it is a bug.

    ``RecloopError`` is one already (a store that cannot be opened raises
    ``StoreUnavailableError`` where it is opened); an ``OSError`` in
    :data:`OPERATOR_ERRNOS` is the system refusing a path or device the operator chose.
    """
    if isinstance(exc, RecloopError):
        return exc
    if isinstance(exc, OSError) and exc.errno in OPERATOR_ERRNOS:
        return UnusableInputError(os_error_message(exc))
    return None


def os_error_message(exc: OSError) -> str:
    """``cannot use PATH: Is a directory`` (the path when the error names one)."""
    reason = exc.strerror or os.strerror(exc.errno or 0)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"cannot use {' -> '.join(paths)}: {reason}" if paths else reason


def _abandoned_stream(exc: BaseException) -> Any:
    """stdout or stderr when ``exc`` is a write to it after its reader went away."""
    if not isinstance(exc, BrokenPipeError):
        return None
    return next((s for s in (sys.stdout, sys.stderr) if _reader_gone(s)), None)


def _reader_gone(stream: Any) -> bool:
    """True when ``stream`` is a pipe whose reading end is closed.

    The kernel flags such a pipe with POLLERR, which tells our own stdout going away
    (quiet, not an error) from a socket's peer hanging up (a real failure).
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a test's in-memory stream
        return False
    if not hasattr(select, "poll"):  # Windows: assume the broken pipe is our own
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _discard(stream: Any) -> None:
    """Point ``stream``'s descriptor at /dev/null, so the flush at exit cannot fail again."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream: nothing to flush
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


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

        try:
            yield advance
        except BaseException:
            bar.live.transient = True  # on failure the one error line is all that stays
            raise
