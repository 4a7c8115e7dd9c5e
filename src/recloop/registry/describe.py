"""The Markdown a person reads at the top of a version's page and of the model's page.

A version's description tells its story at a glance: the decision and why (for a
promotion too), candidate against champion on the headline relevance and diversity
metrics with the gain's interval, the training data as UTC dates and batch files, the
parent version, and links to its run, its check table, its drift check and its Prefect
flow run. The registered model's description says which version is champion since when,
and the promotion history.

Descriptions are *rendered from stored facts*, never edited in place, so any process can
re-render them after any change (registration, decision, promotion, rollback):

- ``recloop/lineage.json``, an artifact of the version's run written at registration
  (:func:`lineage_facts`): training window, batches, parent, drift run, flow run;
- ``gate/checks.json``, written by the gate when it decides (``recloop.gate.record``):
  decision, reasons, the metric table and every check;
- the version's few tags (decision, promotion and rollback times, a forced reason) and the
  promotion history tag.

Rendering is pure (:func:`render_version_description`, :func:`render_model_description`);
:func:`describe_version` and :func:`describe_model` gather the facts and write.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from recloop.registry.client import client, get_alias, get_version
from recloop.registry.tags import (
    FORCED,
    PASSED,
    REJECTED,
    TAG_FORCED_REASON,
    TAG_GATE_DECISION,
    TAG_PROMOTED_AT,
    TAG_ROLLED_BACK_AT,
)
from recloop.settings import Settings
from recloop.tracking.links import mlflow_run_url, mlflow_version_url

log = logging.getLogger(__name__)

LINEAGE_ARTIFACT = "recloop/lineage.json"
CHECKS_ARTIFACT = "gate/checks.json"
CHECKS_HTML = "gate/checks.html"
# Rows of the candidate-vs-champion table: relevance, then diversity and novelty.
TABLE_METRICS = ("ndcg", "recall", "mrr", "ild", "coverage", "novelty")
HISTORY_ROWS = 20  # newest promotion-history entries shown on the model page


# ---- rendering (pure) -------------------------------------------------------------------


def when(seconds: float | int | None, *, minutes: bool = True) -> str:
    """Unix seconds as a UTC date (and time): ``1998-02-14 00:00 UTC``."""
    if seconds is None:
        return "—"
    moment = datetime.fromtimestamp(float(seconds), UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if minutes else "%Y-%m-%d")


def window_dates(start: int | None, end: int | None) -> str:
    """A half-open window ``[start, end)`` as inclusive UTC dates: ``1998-02-14..1998-02-20``.

    The end is exclusive, so the last day shown is the day of ``end - 1`` second.
    """
    first = when(start, minutes=False) if start is not None else "the first event"
    last = when(int(end) - 1, minutes=False) if end is not None else "now"
    return f"{first}..{last}"


def _num(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{float(value):+.4f}" if signed else f"{float(value):.4f}"


def _status_line(version: str, tags: dict[str, str], aliases: set[str], checks: dict | None):
    decision = tags.get(TAG_GATE_DECISION)
    if "champion" in aliases:
        since = when(_int(tags.get(TAG_PROMOTED_AT)))
        how = "forced promotion" if decision == FORCED else "passed the gate"
        return f"## Version {version}: **CHAMPION** (serving since {since}; {how})"
    if tags.get(TAG_ROLLED_BACK_AT):
        rolled = when(_int(tags.get(TAG_ROLLED_BACK_AT)))
        return f"## Version {version}: **ROLLED BACK** on {rolled} (was champion)"
    if decision == REJECTED:
        return f"## Version {version}: **REJECTED** by the gate — not promoted"
    if decision == PASSED:
        was = " (was champion)" if tags.get(TAG_PROMOTED_AT) else ""
        return f"## Version {version}: **PASSED** the gate{was}"
    if decision == FORCED:
        return f"## Version {version}: **FORCED** promotion (was champion)"
    return f"## Version {version}: **UNDER EVALUATION** (challenger)"


def _why(tags: dict[str, str], checks: dict | None) -> list[str]:
    lines: list[str] = []
    if tags.get(TAG_FORCED_REASON):
        lines.append(f"- Forced by an operator: {tags[TAG_FORCED_REASON]}")
    if checks is None:
        return lines
    rule = checks.get("rule")
    total = len(checks.get("checks", []))
    failed = [c for c in checks.get("checks", []) if not c.get("passed")]
    against = checks.get("champion_version")
    if rule == "bootstrap":
        lines.append("- No champion yet: bootstrap rule (floors and serving checks only).")
    for reason in checks.get("reasons", []):
        lines.append(f"- {reason}")
    if not failed:
        gain = next((m for m in checks.get("metrics", []) if m.get("primary")), None)
        if gain and gain.get("gain") is not None and against:
            interval = ""
            if gain.get("low") is not None:
                interval = f" (95% CI {_num(gain['low'], True)}..{_num(gain['high'], True)})"
            p = checks.get("p_value")
            sig = f", one-sided p={p:.3f} ≤ alpha {checks.get('alpha')}" if p is not None else ""
            lines.append(
                f"- {gain['name']} gain over champion v{against}: "
                f"{_num(gain['gain'], True)}{interval}{sig}."
            )
        lines.append(f"- All {total} gate checks passed (policy v{checks.get('policy_version')}).")
    else:
        lines.append(
            f"- {len(failed)} of {total} gate checks failed (policy "
            f"v{checks.get('policy_version')}); all of them are in the check table."
        )
    return lines


def _metric_table(checks: dict) -> list[str]:
    order = {name: i for i, name in enumerate(TABLE_METRICS)}
    rows = [m for m in checks.get("metrics", []) if m["name"].split("@")[0] in order]
    rows.sort(key=lambda m: (order[m["name"].split("@")[0]], m["name"]))
    if not rows:
        return []
    against = checks.get("champion_version")
    holdout = checks.get("holdout", {})
    title = (
        f"### Candidate vs champion v{against}"
        if against
        else "### Holdout metrics (no champion to compare with)"
    )
    lines = [
        title,
        "",
        f"Same fresh holdout ({holdout.get('users', '?')} users, {holdout.get('cases', '?')} "
        f"cases); every value is the {checks.get('aggregate', 'mean')}.",
        "",
    ]
    if against:
        lines += [
            "| metric | candidate | champion | gain | 95% CI of the gain |",
            "|---|---:|---:|---:|---|",
        ]
        for m in rows:
            ci = "—"
            if m.get("low") is not None:
                ci = f"{_num(m['low'], True)}..{_num(m['high'], True)}"
            arrow = "" if m.get("higher_is_better", True) else " (lower is better)"
            lines.append(
                f"| {m['name']}{arrow} | {_num(m.get('challenger'))} | {_num(m.get('champion'))} "
                f"| {_num(m.get('gain'), True)} | {ci} |"
            )
        if any(m.get("low") is None for m in rows):
            lines += ["", "—: a list-level metric (no per-user values to resample)."]
    else:
        lines += ["| metric | candidate |", "|---|---:|"]
        lines += [f"| {m['name']} | {_num(m.get('challenger'))} |" for m in rows]
    return [*lines, ""]


def _training_data(lineage: dict) -> list[str]:
    mode = lineage.get("train_mode", "?")
    lines = [
        "### Training data",
        "",
        f"- **{window_dates(lineage.get('window_start'), lineage.get('window_end'))}** "
        f"(UTC; {lineage.get('events', '?')} events), {mode} training",
    ]
    parent = lineage.get("parent_version")
    if parent:
        lines.append(f"- warm-started from version {parent} (parent)")
    elif mode == "full":
        lines.append("- trained from scratch (no parent version)")
    batches = lineage.get("batches") or []
    if batches:
        shown = ", ".join(
            f"`{b.get('file') or b['batch_id'][:12]}` ({b.get('events', '?')} events)"
            for b in batches[:12]
        )
        more = f" and {len(batches) - 12} more" if len(batches) > 12 else ""
        lines.append(f"- batch files: {shown}{more}")
    return [*lines, ""]


def _links(settings: Settings, lineage: dict, checks: dict | None) -> list[str]:
    run_id, experiment_id = lineage.get("run_id"), lineage.get("experiment_id")
    links = []
    if run_id and experiment_id:
        links.append(f"- [training run]({mlflow_run_url(settings, experiment_id, run_id)})")
        if checks is not None:
            table = mlflow_run_url(settings, experiment_id, run_id, "artifacts")
            links.append(f"- [gate check table]({table}) (`{CHECKS_HTML}`, `{CHECKS_ARTIFACT}`)")
    drift_run, drift_experiment = lineage.get("drift_run_id"), lineage.get("drift_experiment_id")
    if drift_run and drift_experiment:
        verdict = lineage.get("drift_verdict") or "drift check"
        url = mlflow_run_url(settings, drift_experiment, drift_run)
        links.append(f"- [drift report]({url}) ({verdict})")
    elif lineage.get("drift_verdict"):
        links.append(f"- drift check: {lineage['drift_verdict']} (not logged to MLflow)")
    flow_name, flow_url = lineage.get("flow_run_name"), lineage.get("flow_run_url")
    if flow_url:
        label = f"Prefect flow run {flow_name}" if flow_name else "Prefect flow run"
        links.append(f"- [{label}]({flow_url})")
    elif lineage.get("flow_run_id"):
        links.append(f"- Prefect flow run `{flow_name}` (id `{lineage['flow_run_id']}`)")
    parent = lineage.get("parent_version")
    if parent:
        links.append(f"- [parent version {parent}]({mlflow_version_url(settings, parent)})")
    return ["### Links", "", *links, ""] if links else []


def render_version_description(
    settings: Settings,
    version: str,
    *,
    tags: dict[str, str],
    aliases: set[str],
    lineage: dict | None,
    checks: dict | None,
) -> str:
    """A version's Markdown description from its stored facts (see the module docstring)."""
    lines = [_status_line(version, tags, aliases, checks), ""]
    why = _why(tags, checks)
    if why:
        lines += ["### Why", "", *why, ""]
    elif checks is None:
        lines += ["The gate has not decided yet.", ""]
    if checks is not None:
        lines += _metric_table(checks)
    if lineage:
        lines += _training_data(lineage)
        lines += _links(settings, lineage, checks)
    return "\n".join(lines).rstrip() + "\n"


def render_model_description(
    settings: Settings, champion: Any | None, history: list[Any], aliases_doc: str
) -> str:
    """The registered model's Markdown: the champion since when, the promotion history."""
    reg = settings.registry
    lines = []
    if champion is None:
        lines.append("## No champion yet")
    else:
        last = next((e for e in reversed(history) if e.version == champion.version), None)
        since = when(last.at) if last else when(champion.created_at)
        how = {"promote": "promoted", "rollback": "rolled back to"}.get(
            last.action if last else "", "serving"
        )
        window = window_dates(champion.window_start, champion.window_end)
        lines += [
            f"## Champion: [version {champion.version}]"
            f"({mlflow_version_url(settings, champion.version)}) since {since} ({how})",
            "",
            f"Trained on {window} (UTC).",
        ]
    lines += [
        "",
        f"Aliases: `@{reg.champion_alias}` serves; `@{reg.challenger_alias}` is the candidate "
        f"under evaluation (or the last one that passed and is not yet promoted); "
        f"`@{reg.previous_alias}` is where a rollback returns. {aliases_doc}",
        "",
    ]
    if history:
        lines += [
            "### Promotion history (newest first)",
            "",
            "| when | action | version | replaced | by | note |",
            "|---|---|---:|---:|---|---|",
        ]
        for entry in list(reversed(history))[:HISTORY_ROWS]:
            note = entry.reason or ("forced" if entry.forced else (entry.decision or ""))
            lines.append(
                f"| {when(entry.at)} | {entry.action} | {entry.version} | "
                f"{entry.replaced or '—'} | {entry.by} | {note} |"
            )
        if len(history) > HISTORY_ROWS:
            lines.append(f"\n{len(history) - HISTORY_ROWS} older entries are in the history tag.")
    return "\n".join(lines).rstrip() + "\n"


# ---- gathering and writing ---------------------------------------------------------------


def load_run_json(run_id: str | None, path: str) -> dict | None:
    """A JSON artifact of a run, or None when the run or the file is missing."""
    if not run_id:
        return None
    import mlflow  # heavy: only when describing

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{path}")
    except Exception:  # missing artifact, unreadable store: describe what is known
        return None


def describe_version(settings: Settings, version: str) -> str:
    """Re-render and write a version's description from its stored facts; returns it."""
    info = get_version(settings, version)
    mlflow_client = client(settings)
    name = settings.registry.model_name
    aliases = set(mlflow_client.get_model_version(name, info.version).aliases or [])
    text = render_version_description(
        settings,
        info.version,
        tags=info.tags,
        aliases=aliases,
        lineage=load_run_json(info.run_id, LINEAGE_ARTIFACT),
        checks=load_run_json(info.run_id, CHECKS_ARTIFACT),
    )
    mlflow_client.update_model_version(name, info.version, description=text)
    return text


def describe_model(settings: Settings, history: list[Any]) -> str:
    """Re-render and write the registered model's description; returns it."""
    champion = get_alias(settings, settings.registry.champion_alias)
    text = render_model_description(
        settings,
        champion,
        history,
        "A rejected version carries the tag `recloop.gate.decision = rejected` and no alias.",
    )
    client(settings).update_registered_model(settings.registry.model_name, description=text)
    return text


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None
