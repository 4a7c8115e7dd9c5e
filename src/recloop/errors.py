"""Errors that reach the operator as one clear line and an exit code, never a traceback."""

from __future__ import annotations

import signal


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


class RegistryBusyError(RecloopError):
    """The registry lock was not had in time: another change is in progress; retry later."""

    exit_code = 2


class StoreUnavailableError(UnusableInputError):
    """The event store cannot be opened: server down, database missing, wrong credentials.

    The message names the store by its URL with the password masked, and gives the
    driver's first line (which says why), so that it can be printed and logged safely.
    """

    @classmethod
    def from_exception(cls, url: str, exc: BaseException) -> StoreUnavailableError:
        """Build the operator message for ``exc`` raised while opening ``url``."""
        masked, password = _mask_url(url)
        if masked is None:  # the driver's words could quote the malformed URL: never shown
            return cls(
                "cannot open the event store: RECLOOP_DATABASE_URL is not a valid SQLAlchemy "
                "URL (dialect+driver://user:password@host:port/database)"
            )
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        first = reason[0].strip() if reason else type(exc).__name__
        if password:
            first = first.replace(password, "***")
        return cls(f"cannot open the event store {masked}: {first}")


def _mask_url(url: str) -> tuple[str | None, str | None]:
    """(the URL with its password replaced by ``***``, the password) for a SQLAlchemy URL;
    (None, None) when it cannot be parsed (or has a malformed part, such as its port)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        masked = parsed.render_as_string(hide_password=True)
        _ = parsed.port  # a port that is not a number fails here, not in make_url
    except (ArgumentError, ValueError):
        return None, None
    return masked, parsed.password


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop (SIGINT, SIGTERM) and is winding down cleanly.

    A ``KeyboardInterrupt`` so that no ``except Exception`` on the way up swallows it; the
    CLI exits with the shell's convention for a signal, 128 + its number.
    """

    def __init__(self, signum: int, message: str | None = None) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(message or f"interrupted by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class BatchInProgressError(RecloopError):
    """Another live process is ingesting the same batch right now; try again later."""

    exit_code = 2
