"""A drift check's report on real MovieLens data: one verdict, stated the same way on
recloop's page, in the summary, in the alert and on Evidently's page (whose own per-table
"Dataset Drift is ..." lines must agree, or the note says why not); features with too few
rows say "not tested (too few rows: ...)"; four files, one Evidently page.

The check: 300 events of week 12 with inflated ratings against every earlier week. Its
users table has too few rows to test, the other tables are tested, and two alarm features
drift, in two different tables (about 3 s a check).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from markupsafe import escape

from recloop.drift import run_drift_check
from recloop.drift.shifts import rating_inflation
from recloop.drift.verdict import verdict_line
from recloop.notify import format_drift_alert

from .conftest import week_case

REPORT_FILES = ["drift.json", "evidently.html", "index.html", "summary.md"]


@pytest.fixture(scope="module")
def small_shift(movielens):
    case = week_case(movielens, 12)
    current, _ = rating_inflation(case.current.iloc[:300], case.items, np.random.default_rng(0))
    return case, current


def _check(settings, small_shift):
    case, current = small_shift
    return run_drift_check(
        settings,
        case.reference,
        current,
        case.items,
        reference_window=case.reference_window,
        current_window=case.current_window,
    )


def _pages(result) -> tuple[str, str, str]:
    folder = result.report_path.parent
    assert sorted(p.name for p in folder.iterdir()) == REPORT_FILES
    return tuple(
        (folder / name).read_text() for name in ("index.html", "summary.md", "evidently.html")
    )


def esc(text: str) -> str:
    """``text`` as recloop's page (Jinja2) escapes it."""
    return str(escape(text))


def evidently_says(page: str) -> list[bool]:
    """Evidently's own table verdicts, as its page prints them (table order)."""
    return [not m for m in re.findall(r"Dataset Drift is (NOT )?detected", page)]


def test_one_verdict_on_every_page_and_untested_features_say_so(drift_settings, small_shift):
    result = _check(drift_settings, small_shift)
    assert result.drift_detected and len(result.drifted_features) >= 2
    index, summary, page = _pages(result)
    title, body = format_drift_alert(result)
    line = verdict_line(result)
    assert line.startswith("Drift detected: ")
    assert "<h1>recloop drift check: drift detected</h1>" in index
    assert summary.startswith("## recloop drift check: drift detected\n")
    assert title.startswith("recloop drift detected: ")
    assert esc(line) in index and line in summary and line in body and line in page

    # Evidently's page judges tables; what it prints is what recloop reports, and agrees.
    verdicts = result.evidently_tables
    assert evidently_says(page) == [v.detected for v in verdicts.values()]
    assert any(v.detected for v in verdicts.values()) and not all(
        v.detected for v in verdicts.values()
    )
    agree = "It agrees with recloop: Evidently detects drift in at least one table."
    assert agree in summary and esc(agree) in index and agree in page

    # The users table has too few current rows: "not tested", with the counts, never "no".
    users = [s for s in result.feature_stats if s.feature.startswith("users.")]
    assert users and all(s.skipped and s.skipped.startswith("too few rows: ") for s in users)
    assert "users" not in verdicts
    for stat in users:
        said = f"not tested ({stat.skipped})"
        assert f"<td>{esc(said)}</td>" in index
    said = f"Not tested ({users[0].skipped}): {', '.join(s.feature for s in users)}."
    assert said in summary and said in body and said in page


def test_when_evidently_and_recloop_differ_every_page_says_why(
    drift_settings, small_shift, tmp_path
):
    """A rule Evidently's per-table share cannot express: 3 drifted alarm features."""
    policy = yaml.safe_load(drift_settings.drift.policy_file.read_text())
    policy["decision"] = {"min_drifted_features": 3, "min_share_drifted": 0.0}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    drift_settings.drift.policy_file = path
    result = _check(drift_settings, small_shift)
    assert not result.drift_detected and 0 < len(result.drifted_features) < 3
    index, summary, page = _pages(result)
    assert any(evidently_says(page))  # Evidently still calls some tables drifted
    assert "<h1>recloop drift check: no drift</h1>" in index
    why = (
        "It differs from recloop's verdict (no drift): Evidently's table-level verdict counts "
        "the drifted alarm features of one table against its share threshold"
    )
    rule = "recloop's rule counts all alarm features together: drift when at least 3 alarm"
    for text in (why, rule):
        assert text in summary and esc(text) in index and text in page
    assert verdict_line(result).startswith("No drift: ")


def test_report_path_is_local_only_for_a_local_artifact_store():
    """On a tracking server's artifact store the report has no local path: the run finds it."""
    from pathlib import Path

    from recloop.drift.report import artifact_local_path

    assert artifact_local_path("file:///srv/mlartifacts/1/abc/artifacts/drift") == Path(
        "/srv/mlartifacts/1/abc/artifacts/drift"
    )
    assert artifact_local_path("/home/me/.recloop/mlartifacts/abc/artifacts/drift") == Path(
        "/home/me/.recloop/mlartifacts/abc/artifacts/drift"
    )
    assert artifact_local_path("mlflow-artifacts:/1/abc/artifacts/drift") is None
    assert artifact_local_path("s3://bucket/1/abc/artifacts/drift") is None
