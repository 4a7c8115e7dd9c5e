"""Helpers for the data-stage tests: batch files cut from real MovieLens rows, CLI runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

HEADER = "user_id,item_id,rating,timestamp"


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
