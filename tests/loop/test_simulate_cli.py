"""``recloop simulate``: the README's main job, through the CLI, on a small real replay.

A slice of MovieLens (150 users, six weeks) replayed as a four-week bootstrap plus two
weeks, with the tiny model of the loop tests: the check is the replay's mechanics (the
real flow runs each week, four arms are scored on the same events, the report and the
JSON summary agree with each other), not the model's quality, which the full-size
simulation reports (see the issue notes and README). ``test_simulate_real_logs`` replays
slices of MovieLens-1M and Amazon Beauty in count windows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recloop.cli.main import app

from .conftest import WEEK

pytestmark = [pytest.mark.slow]


@pytest.fixture
def small_dataset(movielens, tmp_path: Path) -> Path:
    """A directory in the canonical layout holding a real six-week, 150-user slice."""
    t0 = int(movielens.events["timestamp"].min())
    events = movielens.events[
        (movielens.events["user_id"] <= 150) & (movielens.events["timestamp"] < t0 + 6 * WEEK)
    ]
    out = tmp_path / "ml-slice"
    out.mkdir()
    events.to_csv(out / "interactions.csv", index=False)
    movielens.items.to_csv(out / "items.csv", index=False)
    return out


def _json_tail(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_simulate_replays_weeks_and_writes_a_consistent_report(
    loop_env, small_dataset, tmp_path, monkeypatch, prefect_harness
):
    monkeypatch.setenv("RECLOOP_LOOP__SIMULATE_MAX_EPOCHS", "2")
    sim_home = tmp_path / "sim"
    args = ["simulate", str(small_dataset), "--bootstrap-weeks", "4", "--weeks", "2"]
    result = CliRunner().invoke(app, [*args, "--workspace", str(sim_home), "--json"])
    assert result.exit_code == 0, result.output
    summary = _json_tail(result.stdout)

    assert summary["weeks"] == 2 and len(summary["per_week"]) == 2
    assert set(summary["arms"]) == {"continual", "frozen", "full_retrain", "recent_pop"}
    assert summary["every"] == "7d" and summary["windows_by"] == "time"
    assert [w["week"] for w in summary["per_week"]] == [5, 6]
    for arm, values in summary["arms"].items():
        weekly = [w["arms"][arm]["ndcg"] for w in summary["per_week"]]
        assert values["mean_ndcg@10"] == pytest.approx(np.mean(weekly))
        assert 0 <= values["mean_ndcg@10"] <= 1 and 0 < values["mean_coverage@10"] <= 1
    assert summary["arms"]["frozen"]["train_seconds"] == 0
    assert summary["arms"]["recent_pop"]["train_seconds"] == 0
    assert summary["arms"]["full_retrain"]["train_seconds"] > 0
    decisions = [w["decision"] for w in summary["per_week"]]
    assert summary["promotions"] == decisions.count("promoted")
    assert summary["rejections"] == decisions.count("rejected")
    for week in summary["per_week"]:
        assert week["test_cases"] > 0
        assert week["arms"]["frozen"]["version"] == summary["initial_model"]["version"] == "1"
    # The continual arm scores whichever model was champion when the week began.
    second = summary["per_week"][1]["arms"]["continual"]["version"]
    assert second == ("2" if decisions[0] == "promoted" else "1")
    bootstrap = summary["bootstrap"]["continual_minus_frozen"]
    assert bootstrap["low"] <= bootstrap["diff"] <= bootstrap["high"]

    report = Path(summary["report_path"])
    assert report.is_file() and "NDCG@10" in report.read_text()
    assert (report.parent / "simulation.png").stat().st_size > 10_000
    assert json.loads((report.parent / "summary.json").read_text())["weeks"] == 2

    # The replay's registry is the workspace's: `recloop status` reads it.
    monkeypatch.setenv("RECLOOP_HOME", str(sim_home))
    status = CliRunner().invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    champion = _json_tail(status.stdout)["champion"]
    promoted = [w["candidate_version"] for w in summary["per_week"] if w["decision"] == "promoted"]
    assert champion["version"] == (promoted[-1] if promoted else "1")
    assert champion["run_id"]


def test_simulate_with_no_weeks_left_fails_cleanly(workspace, small_dataset, tmp_path):
    args = ["simulate", str(small_dataset), "--bootstrap-weeks", "50", "--weeks", "2"]
    result = CliRunner().invoke(app, [*args, "--workspace", str(tmp_path / "sim")])
    assert result.exit_code == 2
    assert "no events after the 50-week bootstrap period" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("every", ["0", "7days", "-3", "1.5d"])
def test_simulate_refuses_a_bad_every_in_one_line(workspace, small_dataset, tmp_path, every):
    args = ["simulate", str(small_dataset), "--every", every]
    result = CliRunner().invoke(app, [*args, "--workspace", str(tmp_path / "sim")])
    assert result.exit_code == 2, result.output
    assert "bad --every" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "sim").exists()  # refused before anything was read or written
