"""Drift alerts end to end: real drift results on MovieLens, Apprise, a real HTTP receiver.

Episodes (one page per episode, a new feature or a new champion pages again inside the
cooldown, one "resolved"), and a body whose count is its list, with links built from the
configured UI base URLs.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import yaml

from recloop.drift import decide_retrain, run_drift_check
from recloop.drift.shifts import category_mix_shift, rating_inflation
from recloop.drift.verdict import verdict_line
from recloop.notify import NextStep, flow_run_link, format_drift_alert, notify_drift
from recloop.notify.drift_message import MAX_FEATURES_IN_ALERT, window_dates

WEEK = 7 * 86_400
HOUR = 3600


@pytest.fixture(scope="module")
def week(movielens):
    """MovieLens week 12 against every earlier week (real events, real catalog)."""
    events = movielens.events
    start = int(events["timestamp"].min()) + 12 * WEEK
    reference = events[events["timestamp"] < start]
    current = events[(events["timestamp"] >= start) & (events["timestamp"] < start + WEEK)]
    return reference, current, movielens.items, (start, start + WEEK)


@pytest.fixture(scope="module")
def results(week, tmp_path_factory):
    """Clean week, ratings inflated (A), ratings inflated + category mix shifted (B)."""
    from recloop.settings import Settings

    reference, current, items, window = week
    settings = Settings(home=tmp_path_factory.mktemp("notify-home"))
    settings.drift.log_to_mlflow = False

    def check(events, catalog):
        return run_drift_check(
            settings, reference, events, catalog, current_window=window, save_report=False
        )

    inflated, _ = rating_inflation(current, items, np.random.default_rng(0))
    both, _ = category_mix_shift(inflated, items, np.random.default_rng(1), fraction=0.5)
    clean, a, b = check(current, items), check(inflated, items), check(both, items)
    assert not clean.drift_detected and a.drift_detected and b.drift_detected
    assert set(a.drifted_features) < set(b.drifted_features)
    return clean, a, b, decide_retrain(settings, drift=a)


@pytest.fixture
def notify_settings(tmp_path, receiver):
    from recloop.settings import Settings

    settings = Settings(
        home=tmp_path / "home",
        notify={
            "apprise_urls": [receiver.url("hooks/drift")],
            "retry_delay_seconds": 0.05,
            "cooldown_hours": 24,
            "mlflow_ui_url": "https://mlflow.example.org/",
            "prefect_ui_url": "https://prefect.example.org",
        },
    )
    return settings


def listed_features(message: str) -> list[str]:
    return re.findall(r"^- ([\w.]+): ", message, flags=re.MULTILINE)


def test_one_page_per_episode_news_pages_again_and_recovery_is_said_once(
    notify_settings, receiver, results
):
    clean, a, b, decision = results
    new = sorted(set(b.drifted_features) - set(a.drifted_features))

    def page(result, hours):
        return notify_drift(notify_settings, result, decision, now=hours * HOUR)

    assert page(a, 0).sent
    assert not page(a, 1).sent and page(a, 1).suppressed  # the same drift persists
    second = page(b, 2)  # a new feature drifts, well inside the 24 h cooldown: news
    assert second.sent and "new drifted feature" in second.reason
    assert not page(a, 3).sent and not page(b, 4).sent  # fewer or the same: no news
    moved = dataclasses.replace(a, champion_version="7")
    assert page(moved, 5).sent  # another champion: another episode
    assert not page(moved, 6).sent
    resolved = notify_drift(notify_settings, clean, None, now=7 * HOUR)
    assert resolved.sent and "resolved" in resolved.reason
    assert not notify_drift(notify_settings, clean, None, now=8 * HOUR).sent  # said once
    assert page(a, 9).sent  # drift after recovery is a new episode

    titles = [body["title"] for _, body in receiver.requests]
    assert len(titles) == 5, titles
    assert "new drift episode" in titles[0]
    assert f"new drifted feature{'s' if len(new) > 1 else ''}: {', '.join(new)}" in titles[1]
    assert "the champion is now version 7" in titles[2]
    assert titles[3] == "recloop drift resolved: recloop-recommender"
    assert [body["type"] for _, body in receiver.requests] == [
        "warning", "warning", "warning", "info", "warning",
    ]  # fmt: skip
    resolved_body = receiver.requests[3][1]["message"]
    assert f"it had drifted: {', '.join(sorted(a.drifted_features))}." in resolved_body
    # The episode state lives with the cooldown state, in the workspace.
    state = (notify_settings.home_dir / notify_settings.notify.state_file).read_text()
    assert "drift:recloop-recommender" in state


def test_body_counts_what_it_lists_says_each_test_and_links_the_uis(
    notify_settings, receiver, results
):
    _, _, b, _ = results
    result = dataclasses.replace(b, mlflow_run_id="abc123", mlflow_experiment_id="4")
    step = NextStep("retraining now: flow run brave-otter:", flow_run_link(notify_settings, "f1"))
    decision = decide_retrain(notify_settings, drift=result)
    assert notify_drift(notify_settings, result, decision, now=0, next_step=step).sent
    _, payload = receiver.requests[0]
    message = payload["message"]
    n = len(result.drifted_features)
    assert payload["title"].startswith(f"recloop drift detected: {n} features drifted")
    assert message.splitlines()[0] == verdict_line(result)  # the report pages' words
    assert sorted(listed_features(message)) == sorted(result.drifted_features)
    value = result.stat("events.value")
    line = next(x for x in message.splitlines() if x.startswith("- events.value: "))
    assert f"Wasserstein distance (normed by the reference's spread) {value.score:.3f} " in line
    assert f">= threshold {value.threshold:g}" in line
    assert re.search(r"mean [\d.]+ -> [\d.]+ \(higher\)", line), line
    assert (
        f"Windows: reference {window_dates(result.reference_window)}, "
        f"current {window_dates(result.current_window)} (UTC)."
    ) in message
    assert re.search(r"current 1997-\d\d-\d\d to 1997-\d\d-\d\d", message)
    assert "no champion yet" in message
    assert "Decision: retrain (drift detected in " in message
    assert "Next: retraining now: flow run brave-otter: " in message
    assert "https://prefect.example.org/runs/flow-run/f1" in message
    assert "Report: https://mlflow.example.org/#/experiments/4/runs/abc123/artifacts" in message
    assert "/tmp" not in message  # no path on the worker


def test_long_lists_are_cut_with_plus_n_more_and_the_count_still_holds(
    notify_settings, week, tmp_path
):
    """A policy that alarms on everything: more drifted features than an alert lists."""
    from recloop.settings import PACKAGE_DIR

    reference, current, items, window = week
    policy = yaml.safe_load((PACKAGE_DIR / "drift" / "drift_policy.yaml").read_text())
    policy["features"] = {name: {"threshold": 1e-6} for name in policy["features"]}
    policy["defaults"] = {k: {**v, "threshold": 1e-6} for k, v in policy["defaults"].items()}
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    notify_settings.drift.policy_file = path
    result = run_drift_check(
        notify_settings, reference, current, items, current_window=window, save_report=False
    )
    n = len(result.drifted_features)
    assert n > MAX_FEATURES_IN_ALERT
    title, body = format_drift_alert(result, settings=notify_settings)
    assert title.startswith(f"recloop drift detected: {n} features drifted")
    shown = listed_features(body)
    assert len(shown) == MAX_FEATURES_IN_ALERT and set(shown) <= set(result.drifted_features)
    assert f"+{n - MAX_FEATURES_IN_ALERT} more (see the report)" in body


def test_watch_only_features_are_named_but_never_counted(results):
    _, a, _, _ = results
    watch = dataclasses.replace(a.stat("events.value"), feature="events.hour", alarm=False)
    result = dataclasses.replace(a, feature_stats=[*a.feature_stats, watch])
    title, body = format_drift_alert(result)
    assert title.startswith(f"recloop drift detected: {len(a.drifted_features)} feature")
    assert "events.hour" not in listed_features(body)
    assert "Also moved, watch-only (not counted): events.hour" in body


def test_failing_receiver_is_retried_logged_and_never_raises(
    notify_settings, receiver, results, caplog
):
    _, a, _, decision = results
    receiver.status = 500
    outcome = notify_drift(notify_settings, a, decision, now=0)
    assert not outcome.sent and outcome.failed == ["json"]
    assert outcome.attempts == notify_settings.notify.retries + 1
    assert len(receiver.requests) == notify_settings.notify.retries + 1
    assert "not delivered" in caplog.text
    # Not delivered, so not recorded as sent: the next run tries again and succeeds.
    receiver.status = 200
    assert notify_drift(notify_settings, a, decision, now=60).sent


def test_unreachable_and_invalid_urls_do_not_stop_the_working_one(
    notify_settings, receiver, results
):
    from pydantic import SecretStr

    _, a, _, decision = results
    notify_settings.notify.retries = 0
    notify_settings.notify.apprise_urls = [
        SecretStr("json://127.0.0.1:9/nobody-listens"),
        SecretStr("not-a-url"),
        SecretStr(receiver.url("ok")),
    ]
    outcome = notify_drift(notify_settings, a, decision, now=0)
    assert outcome.sent
    assert outcome.delivered == ["json"] and outcome.failed == ["json", "(unparseable)"]
    assert [p for p, _ in receiver.requests] == ["/ok"]


def test_no_urls_means_no_alert_and_no_error(tmp_path, results):
    from recloop.settings import Settings

    _, a, _, _ = results
    outcome = notify_drift(Settings(home=tmp_path), a)
    assert not outcome.sent and "no alert URLs configured" in outcome.reason
    title, body = format_drift_alert(a)
    assert str(len(a.drifted_features)) in title and "Report: (not saved)" in body


def test_alert_links_are_absolute_or_absent_and_never_carry_credentials(tmp_path):
    """An alert is read outside the MLflow UI: a relative link (what a version description
    uses) is useless there, so without a browsable base there is no link at all."""
    from recloop.notify.links import flow_run_link, mlflow_run_link
    from recloop.settings import Settings

    local = Settings(home=tmp_path, notify={"prefect_ui_url": None})
    assert mlflow_run_link(local, "1", "abc") is None  # a SQLite store: nothing to open
    server = Settings(
        home=tmp_path,
        registry={"tracking_uri": "https://bot:s3cret@mlflow.internal:5000/"},
        notify={"prefect_ui_url": "https://prefect.example.org/"},
    )
    link = mlflow_run_link(server, "7", "abc")
    assert link == "https://mlflow.internal:5000/#/experiments/7/runs/abc/artifacts"
    assert "s3cret" not in link
    assert mlflow_run_link(server, "7", None) is None
    assert flow_run_link(server, "f1") == "https://prefect.example.org/runs/flow-run/f1"
    assert flow_run_link(server, None) is None
