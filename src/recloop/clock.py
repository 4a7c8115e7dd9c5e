"""Time in recloop: Unix seconds, UTC, and one clock for the champion's age.

Every timestamp recloop stores or compares is Unix seconds UTC (``columns.TIMESTAMP_COL``);
operators write instants as ISO dates (``1998-01-15``) or date-times, read as UTC when they
carry no zone: :func:`parse_instant` is the one conversion, :func:`iso_date` the way back.

**The champion's age is read on the data clock**: its age is how far the data has moved
past the end of its training window, ``data_end - champion.window_end``, where
``data_end`` is one past the newest event being judged (the loop step's ``window_end``,
the drift monitor's current-window end). Not the wall-clock time since the version was
registered: a replay of history (``recloop simulate``) then triggers exactly as a live run
would, a model registered late on old data is as stale as its data, and a store that
stopped receiving events does not age its champion into retraining on nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime

SECONDS_PER_DAY = 86_400


def parse_instant(text: str) -> float:
    """Unix seconds of an ISO date or date-time; one without a zone is read as UTC.

    Raises:
        ValueError: ``text`` is not an ISO date or date-time (callers word the message).
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso_date(seconds: float) -> str:
    """The UTC date of Unix ``seconds`` as ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def champion_age_days(champion_window_end: int, data_end: int) -> float:
    """The champion's age on the data clock (see the module docstring), in days."""
    return (data_end - champion_window_end) / SECONDS_PER_DAY
