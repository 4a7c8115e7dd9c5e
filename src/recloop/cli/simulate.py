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
    every: str | None = typer.Option(
        None,
        "--every",
        help="Window: a period (7d, 12h, 30d), a number of events (50000) or auto "
        f"[RECLOOP_LOOP__SIMULATE_EVERY, {_DEFAULTS.simulate_every}].",
    ),
    bootstrap_weeks: int | None = typer.Option(
        None,
        "--bootstrap-weeks",
        min=1,
        help="Weeks the initial model learns [RECLOOP_LOOP__SIMULATE_BOOTSTRAP_WEEKS; "
        f"default: the first {_DEFAULTS.simulate_base_fraction:.0%} of the events].",
    ),
    weeks: int | None = typer.Option(
        None,
        "--weeks",
        "--steps",
        min=1,
        help="Windows replayed [RECLOOP_LOOP__SIMULATE_WEEKS; default: from the log's size].",
    ),
    full_retrain: bool = typer.Option(
        True, "--full-retrain/--no-full-retrain", help="Also train the from-scratch arm."
    ),
    workspace: Path | None = typer.Option(
        None, "--workspace", help="Simulation workspace, wiped first [<home>/simulation]."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Replay history window by window through the continual loop and write a report."""
    from recloop.data.datasets import resolve_dataset
    from recloop.loop.windows import parse_every

    settings = load_settings()
    window = parse_every(every or settings.loop.simulate_every)  # a bad value costs nothing
    dataset_dir = resolve_dataset(settings, dataset)

    from recloop.loop.simulate import run_simulation

    sim_settings = settings.with_home(workspace or settings.home_dir / "simulation")
    with progress("replaying windows") as advance:

        def on_plan(plan) -> None:
            replayed = sum(w.events > 0 for w in plan.windows)
            unit = "" if plan.every.by_time else " events"
            err_console.print(
                f"simulating {replayed} windows of {plan.every.text}{unit} after a base of "
                f"{plan.base_events} events on {dataset_dir}"
            )
            advance(0, total=replayed)

        def on_week(record) -> None:
            ndcg = {arm: round(a.ndcg, 4) for arm, a in record.arms.items()}
            err_console.print(f"window {record.week}: {record.decision}; NDCG@10 {ndcg}")
            advance()

        summary = run_simulation(
            sim_settings,
            dataset_dir,
            every=window,
            bootstrap_weeks=bootstrap_weeks or settings.loop.simulate_bootstrap_weeks,
            weeks=weeks or settings.loop.simulate_weeks,
            full_retrain=full_retrain,
            on_plan=on_plan,
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
