"""``recloop simulate``: replay a dataset's history through the real continual flow."""

from __future__ import annotations

from pathlib import Path

import typer

from recloop.cli.common import emit_json, err_console, handle_errors, load_settings, progress
from recloop.settings import LoopSettings

# Each command imports its stage's modules inside the function (LAZY_IMPORTS): `recloop
# --help` must not load pandas, SQLAlchemy, MLflow or torch just to print the help.

_DEFAULTS = LoopSettings()


def register(app: typer.Typer) -> None:
    """Attach ``simulate`` to the root app."""
    app.command("simulate")(simulate)


@handle_errors
def simulate(
    dataset: str = typer.Argument(..., help="Named dataset (movielens-100k) or a directory."),
    bootstrap_weeks: int | None = typer.Option(
        None,
        "--bootstrap-weeks",
        help="Weeks the initial model learns "
        f"[RECLOOP_LOOP__SIMULATE_BOOTSTRAP_WEEKS, {_DEFAULTS.simulate_bootstrap_weeks}].",
    ),
    weeks: int | None = typer.Option(
        None,
        "--weeks",
        help=f"Weeks replayed [RECLOOP_LOOP__SIMULATE_WEEKS, {_DEFAULTS.simulate_weeks}].",
    ),
    full_retrain: bool = typer.Option(
        True, "--full-retrain/--no-full-retrain", help="Also train the from-scratch arm."
    ),
    workspace: Path | None = typer.Option(
        None, "--workspace", help="Simulation workspace, wiped first [<home>/simulation]."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Replay history week by week through the continual loop and write a report."""
    from recloop.data.datasets import resolve_dataset
    from recloop.loop.simulate import run_simulation

    settings = load_settings()
    dataset_dir = resolve_dataset(settings, dataset)
    sim_settings = settings.with_home(workspace or settings.home_dir / "simulation")
    boot = bootstrap_weeks or settings.loop.simulate_bootstrap_weeks
    n_weeks = weeks or settings.loop.simulate_weeks
    err_console.print(f"simulating {n_weeks} weeks after a {boot}-week bootstrap on {dataset_dir}")
    with progress("replaying weeks", total=n_weeks) as advance:

        def on_week(record) -> None:
            ndcg = {arm: round(a.ndcg, 4) for arm, a in record.arms.items()}
            err_console.print(f"week {record.week}: {record.decision}; NDCG@10 {ndcg}")
            advance()

        summary = run_simulation(
            sim_settings,
            dataset_dir,
            bootstrap_weeks=boot,
            weeks=n_weeks,
            full_retrain=full_retrain,
            on_week=on_week,
        )
    if json_output:
        emit_json(summary)
        return
    for arm, values in summary["arms"].items():
        err_console.print(
            f"{arm:>13}: NDCG@10 {values['mean_ndcg@10']:.4f}  "
            f"coverage@10 {values['mean_coverage@10']:.4f}  train {values['train_seconds']:.0f}s"
        )
    typer.echo(f"report: {summary['report_path']}")
