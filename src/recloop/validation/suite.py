"""Run the versioned expectation suites with Great Expectations and turn results into verdicts.

The suites live next to this file as ``suites/<kind>.v<N>.json`` in GX's own suite format;
each expectation's ``meta`` carries recloop's reading of it:

- ``reason``: the reason code a failing row gets (``timestamp_in_milliseconds``...);
- ``severity``: ``error`` (default: the row is quarantined) or ``warning`` (counted, kept);
- ``action``: for warnings, ``set_null`` nulls the offending value (the year data rule);
- ``suppresses``: codes a row need not also carry (a malformed row is not also "missing");
- ``requires``: a condition for the expectation to apply (``item_catalog``, ``invalid_utf8``,
  ``nul_character``, ``unbalanced_quote``): checks that only matter when the batch has
  such values are not run on the others.

A new rule is a new suite version (``<kind>.v<N+1>.json``); older files stay as the record
of how earlier batches were judged. v2 added exact 64-bit id parsing, text length limits
taken from the store schema (``<col>_too_long``), ``text_contains_nul`` and
``unbalanced_quote``.

GX computes every row-level result (``COMPLETE`` result format, row positions as index);
this module only maps failing rows to codes. Large batches are validated in chunks of
``settings.ingest.chunk_rows`` rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SUITE_VERSION = {"events": 2, "items": 2, "users": 2}
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}


@dataclass
class Verdicts:
    """Row-level outcome of validating one batch (row positions of the validated frame)."""

    errors: dict[int, set[str]] = field(default_factory=dict)
    warnings: dict[int, set[str]] = field(default_factory=dict)
    set_null: dict[str, set[int]] = field(default_factory=dict)  # column -> rows to null
    duplicate_key_rows: set[int] = field(default_factory=set)
    results: list[Any] = field(default_factory=list)  # GX suite results, one per chunk
    seconds: float = 0.0


@lru_cache(maxsize=8)
def load_suite_document(kind: str, version: int | None = None) -> dict:
    """The suite JSON as stored in the package (cached; do not mutate)."""
    version = version or SUITE_VERSION[kind]
    path = SUITES_DIR / f"{kind}.v{version}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def active_expectations(kind: str, conditions: set[str]) -> list[dict]:
    """The suite's expectations whose ``requires`` condition holds."""
    document = load_suite_document(kind)
    return [
        e
        for e in document["expectations"]
        if e.get("meta", {}).get("requires") in (None, *conditions)
    ]


def validate(
    frame: pd.DataFrame,
    kind: str,
    parameters: dict[str, Any],
    conditions: set[str],
    chunk_rows: int,
) -> Verdicts:
    """Validate ``frame`` with the ``kind`` suite in chunks and collect row verdicts.

    Args:
        frame: from ``validation_frame`` (RangeIndex = row positions).
        kind: events, items or users.
        parameters: values of the suite's ``$PARAMETER`` references; the text length
            limits (``<col>_max_length``, from the store schema) included.
        conditions: which ``requires`` conditions hold for this batch.
        chunk_rows: rows per GX run (bounds memory on large batches).
    """
    started = time.perf_counter()
    validation = _validation_definition(kind, frozenset(conditions))
    # Only the columns the active expectations read: GX copies the frame per expectation.
    columns = [c for c in frame.columns if c in referenced_columns(kind, frozenset(conditions))]
    verdicts = Verdicts()
    for start in range(0, len(frame), chunk_rows):
        chunk = numpy_backed(frame.iloc[start : start + chunk_rows][columns])
        result = validation.run(
            batch_parameters={"dataframe": chunk},
            expectation_parameters=parameters,
            result_format=RESULT_FORMAT,
        )
        _collect(result, verdicts)
        verdicts.results.append(_summarise(result))
    _apply_suppressions(verdicts, kind, conditions)
    verdicts.seconds = time.perf_counter() - started
    return verdicts


def numpy_backed(chunk: pd.DataFrame) -> pd.DataFrame:
    """``chunk`` with each nullable integer column that holds no missing value as int64.

    GX compares numpy ``int64``/``float64`` columns in one vectorised call but maps a
    Python function over every value of a nullable ``Int64`` column (its range checks
    were a third of validation time). Without missing values the cast is exact and the
    verdicts are the same; a column with a missing value keeps its type (GX's slower path,
    still exact).
    """
    cast = {
        name: "int64"
        for name, column in chunk.items()
        if isinstance(column.dtype, pd.Int64Dtype) and not column.isna().any()
    }
    return chunk.astype(cast) if cast else chunk


@lru_cache(maxsize=16)
def referenced_columns(kind: str, conditions: frozenset[str]) -> frozenset[str]:
    """Every column an active expectation of the suite reads."""
    names: set[str] = set()
    for expectation in active_expectations(kind, set(conditions)):
        kwargs = expectation["kwargs"]
        names.update(kwargs.get(k) for k in ("column", "column_A", "column_B") if k in kwargs)
        names.update(kwargs.get("column_list", []))
    return frozenset(names)


@lru_cache(maxsize=16)
def _validation_definition(kind: str, conditions: frozenset[str]):
    """An ephemeral GX context holding this suite (results stay in memory, per process)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    document = load_suite_document(kind)
    batch = (
        context.data_sources.add_pandas(f"{kind}_source")
        .add_dataframe_asset(kind)
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=document["name"],
            expectations=active_expectations(kind, set(conditions)),
            meta=document.get("meta", {}),
        )
    )
    definition = gx.ValidationDefinition(name=f"{kind}_validation", data=batch, suite=suite)
    return context.validation_definitions.add(definition)


def _collect(result: Any, verdicts: Verdicts) -> None:
    for outcome in result.results:
        meta = outcome.expectation_config.meta or {}
        info = outcome.exception_info or {}
        if info.get("raised_exception"):
            raise RuntimeError(
                f"expectation {outcome.expectation_config.type} failed to run: "
                f"{info.get('exception_message')}"
            )
        if outcome.success:
            continue
        rows = [int(i) for i in outcome.result.get("unexpected_index_list") or []]
        reason = meta["reason"]
        if reason == "duplicate_key":
            verdicts.duplicate_key_rows.update(rows)
            continue
        target = verdicts.warnings if meta.get("severity") == "warning" else verdicts.errors
        for row in rows:
            target.setdefault(row, set()).add(reason)
        if meta.get("action") == "set_null":
            column = outcome.expectation_config.kwargs["column"]
            verdicts.set_null.setdefault(column, set()).update(rows)


def _apply_suppressions(verdicts: Verdicts, kind: str, conditions: set[str]) -> None:
    """Drop codes implied by a stronger one (``suppresses`` in the suite)."""
    suppresses: dict[str, set[str]] = {}
    for expectation in active_expectations(kind, conditions):
        meta = expectation.get("meta", {})
        suppresses.setdefault(meta["reason"], set()).update(meta.get("suppresses", []))
    for row, codes in verdicts.errors.items():
        hidden = set().union(*(suppresses.get(code, set()) for code in codes))
        if "*" in hidden:
            verdicts.errors[row] = {c for c in codes if "*" in suppresses.get(c, set())}
        else:
            verdicts.errors[row] = codes - hidden


def _summarise(result: Any) -> Any:
    """Drop the row lists from a GX suite result (kept for Data Docs; rows are recorded)."""
    for outcome in result.results:
        for key in list(outcome.result):
            if "unexpected_list" in key or "index" in key:
                del outcome.result[key]
    return result
