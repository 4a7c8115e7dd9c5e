"""Read the settings, turning a bad value into one operator line instead of a pydantic dump.

``Settings()`` raises pydantic's ``ValidationError`` (a value of the wrong type or out of
range) or pydantic-settings' ``SettingsError`` (a list or mapping value that is not JSON).
Both are an operator's typo, not a bug, so :func:`read_settings` reports them as
``UnusableInputError`` naming the environment variable and what it expects, e.g.::

    invalid setting RECLOOP_INGEST__MAX_BAD_FRACTION: input should be a valid number,
    unable to parse string as a number (expects a number >= 0 and <= 1)

The offending value itself is never repeated: settings hold secrets (database URLs with
passwords, notification URLs with tokens), and the operator knows what they typed.
"""

from __future__ import annotations

import json
import os
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

from recloop.errors import UnusableInputError
from recloop.settings import Settings

ENV_PREFIX = "RECLOOP_"
NESTED = "__"
_BOUNDS = (
    (annotated_types.Ge, ">="),
    (annotated_types.Gt, ">"),
    (annotated_types.Le, "<="),
    (annotated_types.Lt, "<"),
)


def read_settings(**overrides: Any) -> Settings:
    """``Settings(**overrides)`` from the environment; a bad value raises one clear line.

    Raises:
        UnusableInputError: a setting has a value of the wrong type or out of range.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise UnusableInputError(describe_validation_error(exc)) from None
    except SettingsError:
        raise UnusableInputError(describe_unparsed_json()) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line for pydantic's errors: the first one in full, a count of the others."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    full = [str(part) for part in first["loc"]]
    loc, field = _field_at(full)
    inside = f" (at {'.'.join(full[len(loc) :])})" if len(full) > len(loc) else ""
    message = str(first["msg"])
    line = f"invalid setting {env_name(loc)}{inside}: {message[:1].lower()}{message[1:]}"
    if field is not None and first["type"] != "value_error":  # a rule across fields
        line += f" (expects {expectation(field)})"
    if len(errors) > 1:
        line += f"; and {len(errors) - 1} more invalid setting(s)"
    return line


def describe_unparsed_json() -> str:
    """A list or mapping setting whose value is not JSON: name the variable that holds it."""
    for name in sorted(os.environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        _, field = _field_at(name[len(ENV_PREFIX) :].lower().split(NESTED))
        if field is None or not _is_complex(field.annotation):
            continue
        try:
            json.loads(os.environ[name])
        except ValueError:
            return f"invalid setting {name}: the value must be JSON (expects {expectation(field)})"
    return "invalid settings: a list or mapping value (RECLOOP_*) is not valid JSON"


def env_name(loc: list[str]) -> str:
    """``["ingest", "max_bad_fraction"]`` -> ``RECLOOP_INGEST__MAX_BAD_FRACTION``."""
    return ENV_PREFIX + NESTED.join(part.upper() for part in loc)


def expectation(field: FieldInfo) -> str:
    """What a field accepts, in words: its type and bounds (``a number >= 0 and <= 1``)."""
    words = _type_words(field.annotation)
    bounds = [
        f"{symbol} {getattr(item, kind.__name__.lower())}"
        for item in field.metadata
        for kind, symbol in _BOUNDS
        if isinstance(item, kind)
    ]
    return f"{words} {' and '.join(bounds)}" if bounds else words


def _field_at(loc: list[str]) -> tuple[list[str], FieldInfo | None]:
    """The settings field that ``loc`` points into, walking nested sections, and its path.

    A location inside a plain value (an item of a list, a key of a mapping) belongs to the
    field that holds the value: ``ingest.value_ranges.rating.1`` -> ``ingest.value_ranges``.
    """
    model: type[BaseModel] | None = Settings
    path: list[str] = []
    field = None
    for part in loc:
        if model is None:
            break
        if part not in model.model_fields:
            return [*path, part], None
        field = model.model_fields[part]
        path.append(part)
        kind = field.annotation
        model = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
    return path, field


def _type_words(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _type_words(args[0]) + " (or unset)"
    if _is_complex(annotation):
        return "JSON, e.g. " + ('["a", "b"]' if origin in (list, tuple, set) else '{"key": value}')
    simple = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "text",
        Path: "a path",
    }
    return simple.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _is_complex(annotation: Any) -> bool:
    """A list, tuple, set, mapping or section: pydantic-settings reads those as JSON."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_complex(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return origin in (list, tuple, set, dict) or annotation in (list, tuple, set, dict)
