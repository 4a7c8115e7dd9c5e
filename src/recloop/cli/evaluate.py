"""CLI of the evaluation stage.

``recloop evaluate --model URI|pop|recent-pop|itemknn|random --protocol loo|next-window
[--k 10] [--cutoff UNIX_S] [--window-days 7] [--text-ild] [--no-log] [--json]``

Evaluates on the events and items in the store, logs an MLflow run (metrics as
``ndcg_at_10``, slice tables, metric-vs-K and MMR-frontier plots) unless ``--no-log``. With
``--json`` the last stdout line is ``{"model", "protocol", "k", "users", "metrics": {...}}``
with lower-case ``name@k`` keys (plus ``cases``, ``eval_seconds``, ``run_id``...).
"""

from __future__ import annotations

import typer

from recloop.cli.common import emit_json, err_console, handle_errors, load_settings, progress
from recloop.errors import UnusableInputError

# Each command imports its stage's modules inside the function (LAZY_IMPORTS): `recloop
# --help` must not load pandas, SQLAlchemy, MLflow or torch just to print the help.


def register(app: typer.Typer) -> None:
    """Attach this stage's commands to the root app."""
    app.command("evaluate")(evaluate)


@handle_errors
def evaluate(
    model: str = typer.Option(
        ..., "--model", help="A baseline (pop, recent-pop, itemknn, random) or a model URI/dir."
    ),
    protocol: str = typer.Option("loo", "--protocol", help="loo or next-window."),
    k: int | None = typer.Option(None, "--k", min=1, help="List length (default eval.k)."),
    cutoff: int | None = typer.Option(
        None,
        "--cutoff",
        help="next-window: model trained up to this Unix time (default: the model's "
        "training window end, else one window before the newest event).",
    ),
    window_days: float | None = typer.Option(
        None, "--window-days", min=0.001, help="next-window: window length in days."
    ),
    text_ild: bool = typer.Option(
        False, "--text-ild", help="Baselines: ILD over item text embeddings (encodes the catalog)."
    ),
    log: bool | None = typer.Option(None, "--log/--no-log", help="Log an MLflow run."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Evaluate a model or a baseline with relevance and diversity metrics."""
    from recloop.evaluation.run import PROTOCOLS, evaluate_model

    if protocol not in PROTOCOLS:
        raise UnusableInputError(f"unknown protocol {protocol!r}; choose one of loo, next-window")
    settings = load_settings()
    with progress(f"evaluating {model} ({protocol})", disable=as_json) as advance:
        run = evaluate_model(
            settings,
            model,
            protocol,
            k=k,
            cutoff=cutoff,
            window_days=window_days,
            text_ild=text_ild,
            log=log,
            progress=advance,
        )
    _print_run(run)
    if as_json:
        emit_json(run.to_json())


def _print_run(run) -> None:
    from rich.table import Table

    table = Table(title=f"{run.model} on {run.protocol} ({run.result.n_cases} cases)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in run.result.metrics.items():
        table.add_row(key, f"{value:.4f}")
    err_console.print(table)
    err_console.print(
        f"eval {run.result.eval_seconds:.2f}s, fit {run.train_seconds:.2f}s"
        + (f", MLflow run {run.run_id}" if run.run_id else ""),
        highlight=False,
    )
