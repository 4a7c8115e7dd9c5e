"""Which table a batch belongs to: events, items or users, decided by its columns.

This module is the one place that says what a batch of each kind looks like and when a
set of (canonical) column names *fits* a kind. A batch fits kind K when

1. it has every column K requires (``REQUIRED_COLUMNS``), and
2. it has no column that another kind requires and K does not know: ``timestamp`` (events)
   in an items or users file, ``item_id`` (the items key) in a users file, ``user_id``
   (the users key) in an items file.

Columns no kind knows (``url``, ``notes``) never count: they are ignored and reported.
Optional columns of another kind do not count either (an events export that repeats the
item's ``title`` is still an events file).

At most one kind fits any set of columns: an events file has ``timestamp``, which neither
catalogue may carry; an items file has ``item_id`` and so cannot be a users file, and the
other way round. So the columns alone name the kind. A file name never does: a kind asked
for (``--kind``) that the columns do not fit is refused (exit 2) with one line naming the
kind they fit, because writing an events file into a catalogue would overwrite its rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from recloop.columns import (
    EVENT_TYPE_COL,
    FIRST_SEEN_COL,
    GENRES_COL,
    ITEM_COL,
    SCENARIO_COL,
    SESSION_COL,
    TIMESTAMP_COL,
    TITLE_COL,
    USER_COL,
    VALUE_COL,
    YEAR_COL,
)
from recloop.errors import UnusableInputError

KINDS = ("events", "items", "users")
REQUIRED_COLUMNS = {
    "events": [USER_COL, ITEM_COL, TIMESTAMP_COL],
    "items": [ITEM_COL],
    "users": [USER_COL],
}
OPTIONAL_COLUMNS = {
    "events": [EVENT_TYPE_COL, VALUE_COL, SCENARIO_COL, SESSION_COL],
    "items": [TITLE_COL, YEAR_COL, GENRES_COL, FIRST_SEEN_COL],
    "users": ["age", "gender", "occupation", "zip_code"],
}


def kind_columns(kind: str) -> list[str]:
    """Every column ``kind`` knows: required first, then optional."""
    return [*REQUIRED_COLUMNS[kind], *OPTIONAL_COLUMNS[kind]]


def missing_columns(columns: Iterable[str], kind: str) -> list[str]:
    """Required columns of ``kind`` that ``columns`` lack."""
    present = set(columns)
    return [c for c in REQUIRED_COLUMNS[kind] if c not in present]


def foreign_columns(columns: Iterable[str], kind: str) -> list[str]:
    """Columns another kind requires that ``kind`` does not know (rule 2 above)."""
    known = set(kind_columns(kind))
    others = {c for k in KINDS if k != kind for c in REQUIRED_COLUMNS[k]}
    return [c for c in columns if c in others and c not in known]


def fits(columns: Iterable[str], kind: str) -> bool:
    """True when a batch with these canonical columns is a ``kind`` batch."""
    columns = list(columns)
    return not missing_columns(columns, kind) and not foreign_columns(columns, kind)


def fitting_kind(columns: Iterable[str]) -> str | None:
    """The one kind these columns fit, or None (never more than one, see the module doc)."""
    columns = list(columns)
    return next((kind for kind in KINDS if fits(columns, kind)), None)


def resolve_kind(columns: Iterable[str], requested: str | None, source: object) -> str:
    """The kind of a batch: the one its columns fit, which ``requested`` must agree with.

    Args:
        columns: the batch's canonical column names.
        requested: the kind the caller asked for (``--kind``), or None to go by the columns.
        source: the file (or frame name) for the message.

    Returns:
        str: events, items or users.

    Raises:
        UnusableInputError: an unknown kind was asked for, the columns fit no kind, or they
            fit another kind than the one asked for.
    """
    columns = [str(c) for c in columns]
    if requested is not None and requested not in KINDS:
        raise UnusableInputError(f"unknown kind {requested!r}; use one of {', '.join(KINDS)}")
    fitting = fitting_kind(columns)
    if fitting is not None and requested in (None, fitting):
        return fitting
    if fitting is not None:
        shown = ", ".join(c for c in kind_columns(fitting) if c in columns)
        raise UnusableInputError(
            f"{source} has the columns of {_article(fitting)} {fitting} file ({shown}), "
            f"not {requested}: use --kind {fitting}"
        )
    return _refuse_unfit(columns, requested or _closest_kind(columns), source)


def _refuse_unfit(columns: list[str], kind: str, source: object) -> str:
    found = ", ".join(columns[:8]) or "none"
    missing = missing_columns(columns, kind)
    if missing:
        raise UnusableInputError(
            f"{source}: missing required {kind} column(s) {', '.join(missing)} (found: {found})"
        )
    foreign = foreign_columns(columns, kind)
    raise UnusableInputError(
        f"{source}: {', '.join(foreign)} cannot be in {_article(kind)} {kind} file; it fits no "
        f"kind (events need {', '.join(REQUIRED_COLUMNS['events'])}; items need {ITEM_COL} and "
        f"no {USER_COL} or {TIMESTAMP_COL}; users need {USER_COL} and no {ITEM_COL} or "
        f"{TIMESTAMP_COL}) (found: {found})"
    )


def _closest_kind(columns: list[str]) -> str:
    """The kind that knows most of the columns (the one a message should talk about)."""
    return max(KINDS, key=lambda kind: sum(c in kind_columns(kind) for c in columns))


def _article(kind: str) -> str:
    return {"events": "an", "items": "an", "users": "a"}[kind]
