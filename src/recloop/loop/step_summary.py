"""One continual step in words: the flow run's name, tags and state message, its Markdown
artifact, and one log line per stage (and the drift monitor's run name and message).

Before this, every continual run in the Prefect UI was "Completed" under a random name
whatever it decided. The flow (``recloop.loop.flows.continual``) now labels its run with
the texts built here, so the run list reads ``incremental 1998-02-14..1998-02-21 ·
promoted v3`` and the artifact tab tells the step's story with links.

Everything here is pure text from typed stage results (no Prefect, no I/O) except
:func:`step_links`, which asks MLflow for the candidate run's experiment (the edge).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from recloop.data.ingest import IngestReport
from recloop.drift import DriftResult, TriggerDecision
from recloop.drift.verdict import verdict_words
from recloop.gate import GateDecision
from recloop.loop.outcome import StepOutcome, StepStatus
from recloop.loop.plan import StepPlan
from recloop.loop.train import Candidate
from recloop.registry.describe import when, window_dates
from recloop.settings import Settings
from recloop.tracking.links import mlflow_run_url, mlflow_version_url

log = logging.getLogger(__name__)

ARTIFACT_KEY = "continual-step"  # one Markdown artifact per continual run, under this key
MAX_MESSAGE = 240  # characters of a state message (the run list shows one line)
MAX_FEATURES_NAMED = 8


# ---- the run's label ---------------------------------------------------------------------


def plan_label(plan: StepPlan) -> str:
    """The step's mode and data window as UTC dates: ``incremental 1998-02-14..1998-02-21``.

    The window is what the step saw: the new training data plus the gate's holdout. A full
    training starts at the first stored event, which the plan does not carry, so it reads
    ``full up to 1998-02-21``.
    """
    if plan.train_start is None:
        return f"{plan.mode} up to {when(plan.window_end - 1, minutes=False)}"
    return f"{plan.mode} {window_dates(plan.train_start, plan.window_end)}"


def outcome_phrase(outcome: StepOutcome) -> str:
    """Where the step ended, short: ``promoted v3``, ``rejected v4``, ``no new data``..."""
    version = outcome.candidate.version if outcome.candidate else "?"
    return {
        StepStatus.NO_NEW_DATA: "no new data",
        StepStatus.NO_RETRAIN: "skipped: no trigger",
        StepStatus.ALREADY_DONE: f"already done v{version}",
        StepStatus.TRAINED: f"trained v{version}",
        StepStatus.PROMOTED: f"promoted v{version}",
        StepStatus.REJECTED: f"rejected v{version}",
    }[outcome.status]


def run_name(outcome: StepOutcome, mode: str) -> str:
    """The flow run's name once the step ended: ``<plan label> · <outcome phrase>``.

    ``mode`` is the requested one, named when there was no plan (nothing new to learn).
    """
    label = plan_label(outcome.plan) if outcome.plan else mode
    return f"{label} · {outcome_phrase(outcome)}"


def run_tags(mode: str, status: StepStatus | None = None) -> list[str]:
    """Tags to filter runs by in the UI: ``mode:incremental``, ``outcome:promoted``."""
    tags = [f"mode:{mode}"]
    return tags if status is None else [*tags, f"outcome:{status}"]


def state_message(outcome: StepOutcome) -> str:
    """The final state's message: the outcome, and why when the step did not promote."""
    message = outcome_phrase(outcome)
    if outcome.plan is not None:
        message += f" ({plan_label(outcome.plan)})"
    why = outcome.reasons if outcome.status is not StepStatus.PROMOTED else []
    if why:
        more = f" (+{len(why) - 1} more)" if len(why) > 1 else ""
        message += f": {why[0]}{more}"
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def monitor_run_name(result: DriftResult, trigger: TriggerDecision) -> str:
    """The drift monitor's run name: ``drift 1998-03-01..1998-03-07 · drift, retrain``."""
    verdict = "drift" if result.drift_detected else "no drift"
    retrain = "retrain" if trigger.should_retrain else "no retrain"
    return f"drift {window_dates(*result.current_window)} · {verdict}, {retrain}"


def monitor_message(result: DriftResult, trigger: TriggerDecision) -> str:
    """The drift monitor's state message: the verdict against which reference, and the
    retrain decision."""
    retrain = "; ".join(trigger.reasons) if trigger.should_retrain else "no trigger fired"
    message = (
        f"{drift_verdict(result)} vs {window_dates(*result.reference_window)}; "
        f"retrain: {'yes' if trigger.should_retrain else 'no'} ({retrain})"
    )
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


# ---- one log line per stage ----------------------------------------------------------------


def ingest_lines(reports: list[IngestReport]) -> list[str]:
    """One line per batch file and a total: how many rows came, were kept, were quarantined."""
    lines = [
        f"ingested {Path(r.source).name} ({r.kind}): {r.status}, received {r.received}, "
        f"accepted {r.accepted}, quarantined {r.quarantined}, duplicates {r.duplicates}"
        for r in reports
    ]
    events = [r for r in reports if r.kind == "events"]
    accepted = sum(r.accepted for r in events)
    quarantined = sum(r.quarantined for r in events)
    lines.append(
        f"events ingested: {accepted} new, {quarantined} quarantined, "
        f"from {len(events)} event batch file(s)"
    )
    return lines


def plan_line(plan: StepPlan | None) -> str:
    """The step's windows, or that there is nothing new beyond the champion's window."""
    if plan is None:
        return "plan: no new data beyond the champion's window; nothing to train"
    parent = f"champion v{plan.parent.version}" if plan.parent else "no champion yet"
    return (
        f"plan: {plan.mode} step on {window_dates(plan.train_start, plan.holdout_start)} "
        f"(training), holdout {window_dates(plan.holdout_start, plan.window_end)}; {parent}"
    )


def drift_verdict(result: DriftResult | None) -> str:
    """``drift detected in 2 features (rating, genre)`` / ``no drift`` / ``not checked``.

    The leading words are the drift report's and the alert's (``recloop.drift.verdict``).
    """
    if result is None:
        return "not checked (no reference or no current events)"
    words = verdict_words(result.drift_detected)
    if not result.drift_detected:
        return f"{words} ({len(result.drifted_features)} drifted features)"
    named = ", ".join(result.drifted_features[:MAX_FEATURES_NAMED])
    more = "…" if len(result.drifted_features) > MAX_FEATURES_NAMED else ""
    return (
        f"{words} in {len(result.drifted_features)} features ({named}{more}; "
        f"share of alarm features {result.share_drifted:.0%})"
    )


def drift_line(result: DriftResult | None) -> str:
    return f"drift: {drift_verdict(result)}"


def trigger_line(trigger: TriggerDecision) -> str:
    """The trigger policy's decision and its reasons."""
    if trigger.should_retrain:
        return f"trigger: retrain ({'; '.join(trigger.reasons)})"
    return "trigger: no retrain (no trigger fired)"


def candidate_text(candidate: Candidate) -> str:
    """The version this step gates: newly registered, or found from an earlier run."""
    if candidate.reused:
        return f"version {candidate.version} from an earlier run of this window"
    mode = f"{candidate.train_mode} training, " if candidate.train_mode else ""
    return (
        f"version {candidate.version} registered ({mode}"
        f"{candidate.train_seconds:.1f} s, run {candidate.run_id})"
    )


def candidate_line(candidate: Candidate) -> str:
    return f"candidate: {candidate_text(candidate)}"


def gate_line(outcome: StepOutcome) -> str:
    """The recorded gate decision and what it did to the champion."""
    decision, version = outcome.gate, outcome.candidate.version if outcome.candidate else "?"
    verdict = "PASSED" if decision is not None and decision.passed else "REJECTED"
    done = "promoted" if outcome.status is StepStatus.PROMOTED else "not promoted"
    why = f": {'; '.join(outcome.reasons)}" if outcome.reasons else ""
    return f"gate: {verdict}, version {version} {done}{why}"


# ---- links and the Markdown artifact ----------------------------------------------------------


@dataclass(frozen=True)
class StepLinks:
    """Where a person reads more (None: not known, e.g. nothing was trained)."""

    training_run: str | None = None
    gate_checks: str | None = None
    model_version: str | None = None
    drift_report: str | None = None


def step_links(settings: Settings, outcome: StepOutcome) -> StepLinks:
    """MLflow UI links of the candidate's run, its version page and the drift report.

    The run's experiment is asked of MLflow (the candidate carries only its run id); a
    failure there loses the run links, never the step. A drift check that was not logged
    to MLflow links its local report folder.
    """
    run_url = checks_url = version_url = drift_url = None
    candidate, drift = outcome.candidate, outcome.drift
    if candidate is not None:
        version_url = mlflow_version_url(settings, candidate.version)
        experiment_id = _experiment_of(settings, candidate.run_id)
        if experiment_id and candidate.run_id:
            run_url = mlflow_run_url(settings, experiment_id, candidate.run_id)
            if outcome.gate is not None:
                checks_url = mlflow_run_url(settings, experiment_id, candidate.run_id, "artifacts")
    if drift is not None and drift.mlflow_run_id and drift.mlflow_experiment_id:
        drift_url = mlflow_run_url(settings, drift.mlflow_experiment_id, drift.mlflow_run_id)
    elif drift is not None and drift.report_path:
        drift_url = str(drift.report_path)
    return StepLinks(run_url, checks_url, version_url, drift_url)


def _experiment_of(settings: Settings, run_id: str | None) -> str | None:
    if not run_id:
        return None
    try:
        from recloop.registry.client import client

        return str(client(settings).get_run(run_id).info.experiment_id)
    except Exception as exc:  # a link is worth a warning, not a failed step
        log.warning("no experiment for run %s: %s", run_id, exc)
        return None


def _link(label: str, url: str | None) -> str | None:
    """A Markdown link when ``url`` opens in a browser; else the address as code.

    MLflow links without a configured UI base are relative hash routes (meant for the
    MLflow UI itself); in a Prefect artifact they would open a Prefect page.
    """
    if not url:
        return None
    if url.startswith(("http://", "https://")):
        return f"- [{label}]({url})"
    return f"- {label}: `{url}`"


def step_markdown(outcome: StepOutcome, links: StepLinks, mode: str) -> str:
    """The step's artifact: outcome, window, ingest, drift, trigger, candidate, gate, links."""
    lines = [f"# Continual step: **{outcome_phrase(outcome)}**", ""]
    lines += _window_section(outcome.plan, mode)
    lines += _ingest_section(outcome.ingest)
    if outcome.plan is not None and outcome.status is not StepStatus.ALREADY_DONE:
        lines += ["## Drift", "", f"- {drift_verdict(outcome.drift)}"]
        if outcome.drift is not None:
            lines.append(
                f"- windows: reference {window_dates(*outcome.drift.reference_window)}, "
                f"current {window_dates(*outcome.drift.current_window)}"
            )
        lines.append("")
    if outcome.trigger is not None:
        retrain = "yes" if outcome.trigger.should_retrain else "no"
        why = "; ".join(outcome.trigger.reasons) or "no trigger fired"
        lines += ["## Trigger", "", f"- retrain: **{retrain}** ({why})", ""]
    if outcome.candidate is not None:
        lines += ["## Candidate", "", f"- {candidate_text(outcome.candidate)}", ""]
    if outcome.gate is not None:
        lines += _gate_section(outcome, outcome.gate)
    shown = [
        _link("training run (MLflow)", links.training_run),
        _link(
            f"model version {outcome.candidate.version}" if outcome.candidate else "model version",
            links.model_version,
        ),
        _link("gate check table", links.gate_checks),
        _link("drift report", links.drift_report),
    ]
    shown_lines = [line for line in shown if line]
    if shown_lines:
        lines += ["## Links", "", *shown_lines, ""]
    return "\n".join(lines).rstrip() + "\n"


def _window_section(plan: StepPlan | None, mode: str) -> list[str]:
    if plan is None:
        return [f"{mode} step: no new data beyond the champion's window.", ""]
    parent = f"champion version {plan.parent.version}" if plan.parent else "none (bootstrap)"
    return [
        f"**{plan_label(plan)}** (UTC)",
        "",
        f"- training data: {window_dates(plan.train_start, plan.holdout_start)}",
        f"- gate holdout: {window_dates(plan.holdout_start, plan.window_end)}",
        f"- parent: {parent}",
        f"- run key: `{plan.run_key}`",
        "",
    ]


def _ingest_section(reports: list[IngestReport]) -> list[str]:
    if not reports:
        return ["## Ingested", "", "No batch files this run.", ""]
    lines = [
        "## Ingested",
        "",
        "| batch file | kind | status | received | accepted | quarantined | duplicates |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in reports:
        lines.append(
            f"| {Path(r.source).name} | {r.kind} | {r.status} | {r.received} | {r.accepted} "
            f"| {r.quarantined} | {r.duplicates} |"
        )
    return [*lines, ""]


def _gate_section(outcome: StepOutcome, decision: GateDecision) -> list[str]:
    verdict = "PASSED" if decision.passed else "REJECTED"
    against = (
        f"against champion v{decision.champion_version}"
        if decision.champion_version
        else "no champion (bootstrap rule)"
    )
    lines = [
        "## Gate",
        "",
        f"- decision: **{verdict}** ({against}; policy v{decision.policy_version}); "
        f"{'promoted' if outcome.status is StepStatus.PROMOTED else 'not promoted'}",
    ]
    primary = decision.gains.get(decision.primary_metric or "")
    if decision.passed and primary and primary.get("diff") is not None:  # else in the reasons
        interval = ""
        if primary.get("low") is not None and primary.get("high") is not None:
            interval = f" (95% CI {primary['low']:+.4f}..{primary['high']:+.4f})"
        lines.append(f"- {decision.primary_metric} gain: {primary['diff']:+.4f}{interval}")
    lines += [f"- {reason}" for reason in decision.reasons]
    failed = sum(not c.passed for c in decision.checks)
    lines += [f"- checks: {len(decision.checks) - failed} of {len(decision.checks)} passed", ""]
    return lines
