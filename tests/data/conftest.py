"""Helpers for the data-stage tests: batch files cut from real MovieLens rows, CLI runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from recloop.data.grouplens import ML100K_GENRES

HEADER = "user_id,item_id,rating,timestamp"


@pytest.fixture(autouse=True)
def _no_data_docs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Data Docs cost ~0.5 s per batch; one test (test_store) turns them back on."""
    monkeypatch.setenv("RECLOOP_INGEST__DATA_DOCS", "false")


@pytest.fixture(scope="session")
def ml_lines(movielens_dir: Path) -> list[str]:
    """The first 2,000 data lines of the real interactions.csv (no header)."""
    with (movielens_dir / "interactions.csv").open() as handle:
        next(handle)
        return [next(handle).rstrip("\n") for _ in range(2000)]


@pytest.fixture
def write_batch(tmp_path: Path) -> Callable[..., Path]:
    """Write a batch file: ``write_batch(lines, header=HEADER, name=...)`` or raw bytes."""
    counter = iter(range(10_000))

    def write(
        lines=None, header: str | None = HEADER, name: str | None = None, data: bytes | None = None
    ) -> Path:
        path = tmp_path / (name or f"batch-{next(counter)}.csv")
        if data is None:
            rows = ([header] if header is not None else []) + list(lines or [])
            data = ("\n".join(rows) + "\n").encode()
        path.write_bytes(data)
        return path

    return write


class CliResult:
    """Exit code, stderr and the JSON report of one ``recloop`` call."""

    def __init__(self, result) -> None:
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        self.report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
        if self.report and "received" in self.report:
            assert_accounted(self.report)


@pytest.fixture
def recloop(workspace) -> Callable[..., CliResult]:
    """Run the ``recloop`` CLI in-process in the test's workspace."""
    from recloop.cli.main import app

    runner = CliRunner()

    def run(*args: str) -> CliResult:
        return CliResult(runner.invoke(app, [str(a) for a in args], catch_exceptions=False))

    return run


def assert_accounted(report: dict) -> None:
    """Every row received is accepted, quarantined or a duplicate."""
    assert report["received"] == (
        report["accepted"] + report["quarantined"] + report["duplicates"]
    ), report


# ---- GroupLens original layouts, written from real MovieLens rows --------------------


def _title_with_year(items):
    return [
        f"{t} ({y})" if isinstance(y, str) and y.isdigit() else t
        for t, y in zip(items.title, items.year, strict=True)
    ]


def write_ml100k(directory, events, items, users):
    directory.mkdir()
    events[["user_id", "item_id", "value", "timestamp"]].astype(int).to_csv(
        directory / "u.data", sep="\t", header=False, index=False
    )
    lines = []
    for row, title in zip(items.itertuples(), _title_with_year(items), strict=True):
        flags = ["1" if g in row.genres.split("|") else "0" for g in ML100K_GENRES]
        date = f"01-Jan-{row.year}" if str(row.year).isdigit() else ""
        lines.append("|".join([str(row.item_id), title, date, "", "http://x", *flags]))
    (directory / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    users.to_csv(directory / "u.user", sep="|", header=False, index=False)


def write_ml1m(directory, events, items, users):
    directory.mkdir()
    rows = events[["user_id", "item_id", "value", "timestamp"]].astype(int).astype(str)
    (directory / "ratings.dat").write_text("\n".join(rows.agg("::".join, axis=1)) + "\n")
    movies = [
        f"{i}::{t}::{g}"
        for i, t, g in zip(items.item_id, _title_with_year(items), items.genres, strict=True)
    ]
    (directory / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    people = users[["user_id", "gender", "age", "occupation", "zip_code"]].astype(str)
    (directory / "users.dat").write_text("\n".join(people.agg("::".join, axis=1)) + "\n")


def write_ml_latest(directory, events, items, _users):
    directory.mkdir()
    events.rename(columns={"user_id": "userId", "item_id": "movieId", "value": "rating"})[
        ["userId", "movieId", "rating", "timestamp"]
    ].to_csv(directory / "ratings.csv", index=False)
    pd.DataFrame(
        {
            "movieId": items.item_id,
            "title": _title_with_year(items),
            "genres": items.genres.replace("", "(no genres listed)"),
        }
    ).to_csv(directory / "movies.csv", index=False)


@pytest.fixture(scope="session")
def grouplens_writers() -> dict[str, Callable]:
    """Writers of GroupLens' original layouts: ``writer(dir, events, items, users)``."""
    return {"ml-100k": write_ml100k, "ml-1m": write_ml1m, "ml-latest": write_ml_latest}
