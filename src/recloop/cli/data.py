"""CLI commands of the data stage: ingest, data fetch, quarantine, replay.

``recloop ingest PATH [--kind events|items|users] [--json]``: with ``--json`` the last
stdout line is the batch report (``batch_id``, ``status``, ``received``, ``accepted``,
``quarantined``, ``duplicates``, ``reasons``...). Exit 0 for accepted/partial/duplicate,
3 for rejected, 2 for unusable input (columns that fit no kind, or not the kind asked for),
1 for a bug.

``recloop batches [--limit N] [--json]``: the ingest log, newest first, with batches whose
process died shown as ``interrupted``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from recloop.cli.common import emit_json, err_console, handle_errors, load_settings

# Each command imports its stage's modules inside the function (LAZY_IMPORTS): `recloop
# --help` must not load pandas, SQLAlchemy, MLflow or torch just to print the help.

KIND_HELP = (
    "events, items or users (default: the kind the file's columns fit; a kind given must fit)"
)


def register(app: typer.Typer) -> None:
    """Attach this stage's commands to the root app."""
    app.command("ingest")(ingest)
    app.command("batches")(batches)
    app.command("replay")(replay)
    data_app = typer.Typer(help="Datasets: fetch named datasets.", no_args_is_help=True)
    data_app.command("fetch")(fetch)
    app.add_typer(data_app, name="data")
    quarantine_app = typer.Typer(help="Inspect quarantined rows.", no_args_is_help=True)
    quarantine_app.command("list")(quarantine_list)
    quarantine_app.command("show")(quarantine_show)
    quarantine_app.command("export")(quarantine_export)
    app.add_typer(quarantine_app, name="quarantine")


@handle_errors
def ingest(
    path: Path = typer.Argument(..., help="Batch file: CSV, Parquet or a GroupLens file."),
    kind: str | None = typer.Option(None, "--kind", help=KIND_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Validate a batch file and store its good rows; quarantine the bad ones."""
    from recloop.data.ingest import ingest_path

    settings = load_settings()
    with err_console.status(f"ingesting {path}" + (f" as {kind}" if kind else "")):
        report = ingest_path(settings, path, kind)
    _print_report(report)
    if as_json:
        emit_json(report.to_dict())
    if report.status == "rejected":
        raise typer.Exit(code=3)


def _print_report(report) -> None:
    for batch in report.interrupted:
        err_console.print(
            f"note: batch {batch['batch_id'][:12]} ({batch['source']}) {batch['message']}",
            highlight=False,
            markup=False,
        )
    reasons = ", ".join(f"{k}={v}" for k, v in report.reasons.items()) or "none"
    err_console.print(
        f"{report.kind} batch {report.batch_id[:12]}: [bold]{report.status}[/] — "
        f"received {report.received}, accepted {report.accepted}, quarantined "
        f"{report.quarantined}, duplicates {report.duplicates}; reasons: {reasons}",
        highlight=False,
    )
    if report.warnings:
        warnings = ", ".join(f"{k}={v}" for k, v in report.warnings.items())
        err_console.print(f"warnings: {warnings}", highlight=False)
    if report.ignored_columns:
        err_console.print(f"ignored columns: {', '.join(report.ignored_columns)}")
    if report.message:
        err_console.print(report.message, highlight=False)


@handle_errors
def batches(
    limit: int = typer.Option(20, "--limit", min=1, help="Newest N batches."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The ingest log: each batch's status and counts; why one failed or was interrupted."""
    from rich.table import Table

    from recloop.data.batch_log import list_batches

    rows = list_batches(load_settings(), limit)
    table = Table("batch", "kind", "status", "received", "accepted", "quarantined", "message")
    for row in rows:
        table.add_row(
            row["batch_id"][:12],
            row["kind"],
            row["status"],
            *(str(row[c]) for c in ("received", "accepted", "quarantined")),
            row["message"] or "",
        )
    err_console.print(table)
    if as_json:
        emit_json({"batches": rows})


@handle_errors
def fetch(
    name: str = typer.Argument(..., help="Dataset name, e.g. movielens-100k."),
    force: bool = typer.Option(False, "--force", help="Download even when present."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Download a named dataset (checksum verified) into the datasets directory."""
    from recloop.data.datasets import fetch_dataset

    settings = load_settings()
    result = fetch_dataset(settings, name, force=force)
    err_console.print(f"{name}: {result['status']} at {result['path']}", highlight=False)
    if as_json:
        emit_json(result)


@handle_errors
def replay(
    dataset: str = typer.Argument(..., help="Dataset name or directory."),
    every: str = typer.Option("7d", "--every", help="Batch period: 7d, 12h, 3600s."),
    out: Path = typer.Option(..., "--out", help="Directory for the batch files."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Cut a dataset into time-ordered batch files to simulate a stream."""
    from recloop.data.replay import replay_dataset

    settings = load_settings()
    manifest = replay_dataset(settings, dataset, every, out)
    err_console.print(
        f"wrote {len(manifest['batches'])} batch files ({manifest['events']} events) to {out}",
        highlight=False,
    )
    if as_json:
        emit_json(manifest)


@handle_errors
def quarantine_list(
    batch: str | None = typer.Option(None, "--batch", help="Only this batch (id prefix)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Batches with quarantined rows and their reason counts."""
    from rich.table import Table

    from recloop.data.quarantine import list_quarantine

    batches = list_quarantine(load_settings(), batch)
    table = Table("batch", "kind", "status", "quarantined", "reasons", "source")
    for row in batches:
        reasons = ", ".join(f"{k}={v}" for k, v in row["reasons"].items())
        table.add_row(
            row["batch_id"][:12],
            row["kind"],
            row["status"],
            str(row["quarantined"]),
            reasons,
            row["source"],
        )
    err_console.print(table)
    if as_json:
        emit_json({"batches": batches})


@handle_errors
def quarantine_show(
    batch: str = typer.Argument(..., help="Batch id (or a unique prefix)."),
    reason: str | None = typer.Option(None, "--reason", help="Only rows with this code."),
    limit: int = typer.Option(20, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Quarantined rows of one batch: row number, reasons, raw content."""
    from recloop.data.quarantine import show_quarantine

    rows = show_quarantine(load_settings(), batch, reason=reason, limit=limit)
    for row in rows:
        err_console.print(
            f"row {row['row_number']}: {row['reasons']}  {row['raw']}",
            highlight=False,
            markup=False,
        )
    if as_json:
        emit_json({"rows": rows})


@handle_errors
def quarantine_export(
    out: Path = typer.Argument(..., help="CSV file to write."),
    batch: str | None = typer.Option(None, "--batch", help="Only this batch (id prefix)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write quarantined rows (batch, row number, reasons, raw fields) to a CSV file."""
    from recloop.data.quarantine import export_quarantine

    count = export_quarantine(load_settings(), out, batch)
    err_console.print(f"exported {count} quarantined rows to {out}", highlight=False)
    if as_json:
        emit_json({"rows": count, "path": str(out)})
