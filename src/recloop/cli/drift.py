"""CLI commands of the drift stage.

``recloop drift [--reference START..END] [--current START..END] [--json] [--no-notify]``:
windows are half-open UTC ISO date ranges (``1997-09-20..1997-11-29``). Defaults: the
current window is the last ``drift.current_window_days`` days of events in the store; the
reference is the champion's training window, or everything before the current window when
there is no champion. With ``--json`` the last stdout line holds ``drift_detected``,
``drifted_features``, ``share_drifted``, ``report_path``, ``should_retrain``, ``reasons``
(and the per-feature statistics). Exit 0 whatever the verdict; 2 for unusable input.
"""

from __future__ import annotations

import typer

from recloop.cli.common import emit_json, err_console, handle_errors, load_settings

# Each command imports its stage's modules inside the function (LAZY_IMPORTS): `recloop
# --help` must not load pandas, SQLAlchemy, MLflow or torch just to print the help.

WINDOW_HELP = "Half-open UTC date range START..END, e.g. 1997-09-20..1997-11-29."


def register(app: typer.Typer) -> None:
    """Attach this stage's commands to the root app."""
    app.command("drift")(drift)


@handle_errors
def drift(
    reference: str | None = typer.Option(
        None, "--reference", help=f"{WINDOW_HELP} Default: the champion's training window."
    ),
    current: str | None = typer.Option(
        None, "--current", help=f"{WINDOW_HELP} Default: the last 7 days in the store."
    ),
    notify: bool = typer.Option(True, "--notify/--no-notify", help="Send the alert when drifted."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check the newest window for drift against the champion's data; decide on retraining."""
    from recloop.loop.monitor import check_store, parse_window

    settings = load_settings()
    ref_window = parse_window(reference) if reference else None
    cur_window = parse_window(current) if current else None
    with err_console.status("checking drift"):
        outcome = check_store(settings, ref_window, cur_window, notify=notify)
    _print_outcome(outcome)
    if as_json:
        emit_json(outcome.to_dict())


def _print_outcome(outcome) -> None:
    from recloop.drift.verdict import untested_line, verdict_line

    result, decision = outcome.result, outcome.decision
    colour = "bold red" if result.drift_detected else "green"
    err_console.print(
        f"[{colour}]{verdict_line(result)}[/] ({result.seconds:.1f}s)", highlight=False
    )
    for stat in result.feature_stats:
        if stat.drifted:
            err_console.print(
                f"  {stat.feature}: {stat.method} {stat.score:.3f} >= {stat.threshold:g} "
                f"({stat.reference_summary} -> {stat.current_summary})",
                highlight=False,
            )
    untested = untested_line(result)
    if untested:
        err_console.print(untested, highlight=False, markup=False)
    why = "; ".join(decision.reasons) or "no trigger fired"
    err_console.print(
        f"retrain: {'yes' if decision.should_retrain else 'no'} ({why})", highlight=False
    )
    if result.report_path:
        err_console.print(f"report: {result.report_path}", highlight=False)
    elif result.mlflow_run_id:
        err_console.print(
            f"report: MLflow run {result.mlflow_run_id} (experiment "
            f"{result.mlflow_experiment_id}), artifacts drift/",
            highlight=False,
        )
    if outcome.alert is not None and (outcome.alert.sent or outcome.alert.failed):
        err_console.print(f"alert: {outcome.alert.reason}", highlight=False)
