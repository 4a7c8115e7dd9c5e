"""The replay's HTML page (Jinja2 template): every figure of the summary, values escaped.

Rendering is checked on hand-made week records (fast); ``test_simulate_cli`` checks the
page of a real replay.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from recloop.loop.simulation_report import ArmWeek, WeekRecord, summarize, write_report


def _week(week: int, reasons: list[str], *, full_retrain: bool) -> WeekRecord:
    arms = {
        "continual": ArmWeek(0.1 + week / 100, 0.2, 3.0, "2", [0.5, 0.25]),
        "frozen": ArmWeek(0.09, 0.15, 0.0, "1", [0.4, 0.2]),
    }
    if full_retrain:
        arms["full_retrain"] = ArmWeek(0.11, 0.25, 30.0, None, [0.6, 0.3])
    arms["recent_pop"] = ArmWeek(0.07, 0.01, 0.0, None, [0.3, 0.1])
    return WeekRecord(
        week=week,
        start=f"1997-10-0{week}",
        end=f"1997-10-1{week}",
        events=500,
        test_cases=40 + week,
        test_users=[1, 2],
        test_user_cases=[1, 1],
        arms=arms,
        drift_detected=week == 2,
        drifted_features=["events.value"] if week == 2 else [],
        retrain=True,
        decision="promoted" if week == 1 else "rejected",
        candidate_version="2" if week == 1 else None,
        reasons=reasons,
        loop_seconds=1.5,
    )


def _page(tmp_path: Path, records: list[WeekRecord], bootstrap: dict) -> str:
    summary = summarize(records, bootstrap, tmp_path / "report.html", {"version": "1"})
    return write_report(summary, records, tmp_path).read_text()


def test_page_shows_every_arm_week_and_interval(tmp_path):
    bootstrap = {
        "continual": {"low": 0.0812, "high": 0.1234},
        "continual_minus_frozen": {"diff": 0.015, "low": -0.002, "high": 0.031, "p_value": 0.08},
        "continual_over_full_retrain": {"ratio": 0.981, "low": 0.95, "high": 1.012},
        "continual_minus_recent_pop": {"diff": 0.04, "low": 0.03, "high": 0.05, "p_value": 0.0},
        "recent_pop": {"low": 0.061, "high": 0.079},
    }
    records = [_week(1, ["ok"], full_retrain=True), _week(2, [], full_retrain=True)]
    page = _page(tmp_path, records, bootstrap)
    assert "2 windows of 7d replayed; 1 promotions,\n1 rejections, 1 drift alarms." in page
    assert "<td>continual loop (champion)</td><td>0.1150</td><td>[0.0812, 0.1234]</td>" in page
    assert "+0.0150 NDCG@10, 95% CI [-0.0020, +0.0310], p = 0.080" in page
    assert "Continual over full retrain: 0.981, 95% CI [0.950, 1.012]." in page
    assert "Continual minus recent popularity: +0.0400 NDCG@10, 95% CI [+0.0300, +0.0500]" in page
    pop_row = "<td>recent popularity (previous window's most popular)</td><td>0.0700</td>"
    assert html.unescape(page).count(pop_row + "<td>[0.0610, 0.0790]</td>") == 1
    # Each window's row has all four arms' NDCG@10, in the header's order.
    assert "<td>0.1100</td><td>0.0900</td><td>0.1100</td><td>0.0700</td>" in page
    per_week = re.findall(r"<tr><td>(\d)</td><td>1997-10-0\d</td><td>(\d+)</td>", page)
    assert per_week == [("1", "41"), ("2", "42")]
    assert 'src="data:image/png;base64,' in page


def test_values_from_the_data_are_escaped(tmp_path):
    reason = "<script>alert('x')</script> & \"challenger\" < champion"
    page = _page(tmp_path, [_week(3, [reason, "second"], full_retrain=False)], {})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert html.unescape(page).count(f"{reason}; second") == 1  # escaped, not dropped
    assert "Continual over full retrain: n/a (no full-retrain arm)." in page
    assert "Continual minus recent popularity: n/a (no recent-popularity arm)." in page


def test_page_names_count_windows(tmp_path):
    records = [_week(1, [], full_retrain=True)]
    summary = summarize(records, {}, tmp_path / "report.html", {"version": "1"})
    summary.update(every="50000", windows_by="events")
    page = write_report(summary, records, tmp_path).read_text()
    assert "1 windows of 50000 events replayed;" in page
