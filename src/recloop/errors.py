"""Errors that reach the operator as one clear line and an exit code, never a traceback."""

from __future__ import annotations


class RecloopError(Exception):
    """An expected failure with a message written for the operator.

    ``exit_code`` follows the CLI contract: 2 for unusable input, 3 for a rejected batch,
    1 is reserved for bugs (unexpected exceptions).
    """

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UnusableInputError(RecloopError):
    """The input cannot be used at all: missing file, unreadable format, empty window."""

    exit_code = 2


class NotFoundError(RecloopError):
    """A named thing (dataset, model version, alias) does not exist."""

    exit_code = 2


class BatchInProgressError(RecloopError):
    """Another live process is ingesting the same batch right now; try again later."""

    exit_code = 2
