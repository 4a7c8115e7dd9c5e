"""The continual step told in words (run name, tags, state message, artifact, log lines),
built from typed stage results without Prefect or MLflow."""

from __future__ import annotations

from datetime import UTC, datetime

from recloop.data.ingest import IngestReport
from recloop.drift import DriftResult, TriggerDecision
from recloop.gate import GateDecision
from recloop.gate.decision import Check
from recloop.loop import step_summary as summary
from recloop.loop.outcome import StepOutcome, StepStatus
from recloop.loop.plan import StepPlan
from recloop.loop.train import Candidate
from recloop.registry import ModelVersionInfo


def ts(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


CHAMPION = ModelVersionInfo("2", "run-2", "models:/m/2", ts("1998-02-01"), ts("1998-02-14"), 0, {})
PLAN = StepPlan("incremental", ts("1998-02-14"), ts("1998-02-19"), ts("1998-02-22"), CHAMPION)
REPORTS = [
    IngestReport("b1", "items", "/inbox/items.csv", "accepted", 50, 50, 0, 0),
    IngestReport("b2", "events", "/inbox/events-w7.csv", "accepted", 1200, 1180, 20, 0),
]
DRIFT = DriftResult(
    drift_detected=True,
    drifted_features=["events.value", "items.genre"],
    share_drifted=0.4,
    feature_stats=[],
    reference_window=(ts("1998-02-01"), ts("1998-02-14")),
    current_window=(ts("1998-02-14"), ts("1998-02-22")),
)
TRIGGER = TriggerDecision(True, ["drift detected in 2 features"])


def gate(passed: bool, reasons: list[str]) -> GateDecision:
    checks = [Check("floor/ndcg@10", "floor", True), Check("gain/ndcg@10", "gain", passed)]
    return GateDecision(
        passed,
        "compare",
        reasons,
        checks,
        policy_version=3,
        gains={"ndcg@10": {"diff": 0.0123, "low": 0.002, "high": 0.021}},
        primary_metric="ndcg@10",
        champion_version="2",
    )


def outcome(status: StepStatus, passed: bool = True, reasons: list[str] | None = None):
    reasons = reasons or []
    return StepOutcome(
        status=status,
        plan=PLAN,
        ingest=REPORTS,
        drift=DRIFT,
        trigger=TRIGGER,
        candidate=Candidate("3", "models:/m/3", "run-3", 12.5, train_mode="incremental"),
        gate=gate(passed, reasons),
        reasons=reasons,
    )


def test_run_name_tags_and_message_carry_window_and_outcome():
    promoted = outcome(StepStatus.PROMOTED)
    assert summary.plan_label(PLAN) == "incremental 1998-02-14..1998-02-21"
    assert summary.run_name(promoted, "incremental") == (
        "incremental 1998-02-14..1998-02-21 · promoted v3"
    )
    assert summary.run_tags("incremental", StepStatus.PROMOTED) == [
        "mode:incremental",
        "outcome:promoted",
    ]
    rejected = outcome(StepStatus.REJECTED, False, ["ndcg@10 gain below 0", "latency"])
    message = summary.state_message(rejected)
    assert message.startswith("rejected v3 (incremental 1998-02-14..1998-02-21)")
    assert message.endswith(": ndcg@10 gain below 0 (+1 more)")
    assert summary.run_name(StepOutcome(), "incremental") == "incremental · no new data"
    skipped = StepOutcome(StepStatus.NO_RETRAIN, plan=PLAN, trigger=TriggerDecision(False))
    assert summary.run_name(skipped, "incremental").endswith(" · skipped: no trigger")
    full = StepPlan("full", None, ts("1998-02-19"), ts("1998-02-22"), None)
    assert summary.plan_label(full) == "full up to 1998-02-21"


def test_markdown_tells_the_story_with_links():
    text = summary.step_markdown(
        outcome(StepStatus.PROMOTED),
        summary.StepLinks(
            training_run="http://mlflow:5000/#/experiments/1/runs/run-3",
            gate_checks="http://mlflow:5000/#/experiments/1/runs/run-3/artifacts",
            model_version="http://mlflow:5000/#/models/m/versions/3",
            drift_report="/reports/drift-x/index.html",
        ),
        "incremental",
    )
    assert text.startswith("# Continual step: **promoted v3**")
    assert "**incremental 1998-02-14..1998-02-21** (UTC)" in text
    assert "- gate holdout: 1998-02-19..1998-02-21" in text
    assert "| events-w7.csv | events | accepted | 1200 | 1180 | 20 | 0 |" in text
    assert "drift detected in 2 features (events.value, items.genre" in text
    assert "- retrain: **yes** (drift detected in 2 features)" in text
    assert "version 3 registered (incremental training, 12.5 s, run run-3)" in text
    assert "- decision: **PASSED** (against champion v2; policy v3); promoted" in text
    assert "- ndcg@10 gain: +0.0123 (95% CI +0.0020..+0.0210)" in text
    assert "- [training run (MLflow)](http://mlflow:5000/#/experiments/1/runs/run-3)" in text
    assert "- [model version 3](http://mlflow:5000/#/models/m/versions/3)" in text
    # A path (or a relative MLflow route) would open a Prefect page: shown as code instead.
    assert "- drift report: `/reports/drift-x/index.html`" in text


def test_markdown_of_a_step_with_nothing_new():
    text = summary.step_markdown(StepOutcome(), summary.StepLinks(), "incremental")
    assert text.startswith("# Continual step: **no new data**")
    assert "No batch files this run." in text and "## Links" not in text


def test_log_lines_of_each_stage():
    lines = summary.ingest_lines(REPORTS)
    assert lines[1] == (
        "ingested events-w7.csv (events): accepted, received 1200, accepted 1180, "
        "quarantined 20, duplicates 0"
    )
    assert lines[-1] == "events ingested: 1180 new, 20 quarantined, from 1 event batch file(s)"
    assert summary.plan_line(PLAN).startswith("plan: incremental step on 1998-02-14..1998-02-18")
    assert summary.drift_line(DRIFT).startswith("drift: drift detected in 2 features")
    assert summary.drift_line(None) == "drift: not checked (no reference or no current events)"
    assert summary.trigger_line(TRIGGER) == "trigger: retrain (drift detected in 2 features)"
    assert summary.gate_line(outcome(StepStatus.REJECTED, False, ["too slow"])) == (
        "gate: REJECTED, version 3 not promoted: too slow"
    )
    assert (
        summary.monitor_run_name(DRIFT, TRIGGER) == "drift 1998-02-14..1998-02-21 · drift, retrain"
    )
