"""CLI commands of the loop stage: ``status``, ``promote``, ``rollback``.

Examples::

    recloop status --json
    recloop promote 7                              # only if version 7 passed the gate
    recloop promote 7 --force --reason "hotfix"    # recorded as forced
    recloop rollback --reason "bad CTR"            # champion back to previous

Promotion and rollback hold the registry lock in the event store (``recloop.registry.lock``),
shared with the continual flow and every other recloop process on the same store, with or
without a Prefect server. A lock not had within ``registry.lock_timeout_seconds`` exits 2
with one line and changes nothing; so does a target version that does not load and answer a
request (``recloop.registry.load_check``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from recloop.cli.common import emit_json, handle_errors, load_settings, out_console
from recloop.settings import Settings

# Each command imports the registry inside the function (LAZY_IMPORTS): `recloop --help`
# must not load SQLAlchemy and MLflow just to print the help.

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object as the last stdout line.")


def register(app: typer.Typer) -> None:
    """Attach this stage's commands to the root app."""
    app.command("status")(status)
    app.command("promote")(promote)
    app.command("rollback")(rollback)


@handle_errors
def status(as_json: bool = JSON_OPTION) -> None:
    """Show champion, challenger, previous, the last gate decision, last drift, model age."""
    payload = collect_status(load_settings())
    if as_json:
        emit_json(payload)
        return
    _print_status(payload)


@handle_errors
def promote(
    version: str = typer.Argument(..., help="Registered model version to make champion."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate rejected it."),
    reason: str | None = typer.Option(None, "--reason", help="Why (required with --force)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make VERSION the champion (the old champion becomes 'previous')."""
    from recloop import registry

    entry = registry.promote(load_settings(), version, force=force, reason=reason)
    _report_move(asdict(entry), as_json, f"version {entry.version} is now champion")


@handle_errors
def rollback(
    reason: str | None = typer.Option(None, "--reason", help="Why (kept in the history)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Point 'champion' back at 'previous'; repeat to go further back."""
    from recloop import registry

    entry = registry.rollback(load_settings(), reason=reason)
    _report_move(asdict(entry), as_json, f"rolled back: version {entry.version} is champion")


def collect_status(settings: Settings) -> dict[str, Any]:
    """Everything ``recloop status`` shows, as one JSON-ready dict."""
    from recloop import registry

    reg = settings.registry
    now = int(time.time())
    roles = {
        role: registry.get_alias(settings, alias)
        for role, alias in (
            ("champion", reg.champion_alias),
            ("challenger", reg.challenger_alias),
            ("previous", reg.previous_alias),
        )
    }
    champion = roles["champion"]
    history = registry.promotion_history(settings)
    return {
        "model_name": reg.model_name,
        **{role: info.to_dict() if info else None for role, info in roles.items()},
        "last_decision": registry.read_model_tag_json(settings, registry.TAG_LAST_DECISION),
        "last_drift": latest_drift_report(settings.reports_dir),
        "model_age": _model_age(champion, now),
        "history": [asdict(entry) for entry in history[-10:]],
    }


def latest_drift_report(reports_dir: Path) -> dict[str, Any] | None:
    """The newest drift report JSON under ``reports_dir`` (its scalar fields), or None."""
    candidates = [p for p in reports_dir.rglob("*.json") if "drift" in p.name.lower()]
    for path in sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict):
            scalars = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
            return {"path": str(path), **scalars}
    return None


def _model_age(champion, now: int) -> dict[str, int | None] | None:
    if champion is None:
        return None
    from recloop.registry import TAG_PROMOTED_AT

    promoted_at = champion.tags.get(TAG_PROMOTED_AT)
    return {
        "seconds_since_registered": now - champion.created_at,
        "seconds_since_promoted": now - int(promoted_at) if promoted_at else None,
        "seconds_since_data_end": now - champion.window_end if champion.window_end else None,
    }


def _report_move(entry: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        emit_json(entry)
    else:
        forced = " (forced)" if entry.get("forced") else ""
        out_console.print(f"{message}{forced}; previous champion: {entry.get('replaced')}")


def _print_status(payload: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"registry: {payload['model_name']}")
    for column in ("alias", "version", "run_id", "gate", "window end", "created"):
        table.add_column(column)
    for role in ("champion", "challenger", "previous"):
        info = payload[role] or {}
        table.add_row(
            role,
            info.get("version", "—"),
            (info.get("run_id") or "—")[:12],
            info.get("gate_decision") or "—",
            _when(info.get("window_end")),
            _when(info.get("created_at")),
        )
    out_console.print(table)
    decision = payload["last_decision"]
    if decision:
        verdict = "passed" if decision.get("passed") else "rejected"
        why = "; ".join(decision.get("reasons") or [])
        out_console.print(f"last decision: version {decision.get('version')} {verdict} {why}")
    else:
        out_console.print("last decision: none")
    drift = payload["last_drift"]
    out_console.print(f"last drift report: {drift['path'] if drift else 'none'}")
    age = payload["model_age"]
    if age:
        days = age["seconds_since_registered"] / 86400
        out_console.print(f"champion age: {days:.1f} days since registration")


def _when(ts: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else "—"
