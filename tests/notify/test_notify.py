"""Drift alerts end to end: a real drift result, Apprise, a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest

from recloop.drift import decide_retrain, run_drift_check
from recloop.drift.shifts import rating_inflation
from recloop.notify import format_drift_alert, notify_drift

WEEK = 7 * 86_400


@pytest.fixture(scope="module")
def drifted_result(movielens, tmp_path_factory):
    """A real drift result: MovieLens week 12 with inflated ratings vs all earlier weeks."""
    from recloop.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("notify-home"))
    settings.drift.log_to_mlflow = False
    events = movielens.events
    start = int(events["timestamp"].min()) + 12 * WEEK
    reference = events[events["timestamp"] < start]
    current = events[(events["timestamp"] >= start) & (events["timestamp"] < start + WEEK)]
    inflated, items = rating_inflation(current, movielens.items, np.random.default_rng(0))
    result = run_drift_check(
        settings,
        reference,
        inflated,
        items,
        current_window=(start, start + WEEK),
        save_report=False,
    )
    assert result.drift_detected
    clean = run_drift_check(
        settings, reference, current, items, current_window=(start, start + WEEK), save_report=False
    )
    return result, clean, decide_retrain(settings, drift=result)


@pytest.fixture
def notify_settings(tmp_path, receiver):
    from recloop.settings import Settings

    settings = Settings(home=tmp_path / "home")
    settings.notify.apprise_urls = [receiver.url("hooks/drift")]
    settings.notify.retry_delay_seconds = 0.05
    settings.notify.cooldown_hours = 24
    return settings


def test_alert_payload_says_what_drifted_by_how_much_the_decision_and_the_report(
    notify_settings, receiver, drifted_result
):
    result, _, decision = drifted_result
    outcome = notify_drift(notify_settings, result, decision, now=1_000_000)
    assert outcome.sent and outcome.delivered == ["json"]
    assert len(receiver.requests) == 1
    path, payload = receiver.requests[0]
    assert path == "/hooks/drift"
    assert payload["type"] == "warning"
    assert payload["title"].startswith("recloop drift detected")
    message = payload["message"]
    value = result.stat("events.value")
    assert value.drifted
    assert f"events.value: wasserstein {value.score:.3f} >= {value.threshold:g}" in message
    assert "Decision: retrain (drift detected in " in message
    assert "Report: " in message


def test_one_alert_per_episode_within_the_cooldown(notify_settings, receiver, drifted_result):
    result, clean, decision = drifted_result
    hour = 3600
    sent = [
        notify_drift(notify_settings, result, decision, now=t * hour).sent for t in (0, 1, 5, 23)
    ]
    assert sent == [True, False, False, False]
    assert len(receiver.requests) == 1
    # Still drifting a day later: one reminder.
    assert notify_drift(notify_settings, result, decision, now=25 * hour).sent
    assert len(receiver.requests) == 2
    # A clean check closes the episode; the next drift is a new episode and pages again.
    assert not notify_drift(notify_settings, clean, None, now=26 * hour).sent
    assert notify_drift(notify_settings, result, decision, now=27 * hour).sent
    assert len(receiver.requests) == 3
    # The dedup state lives in the workspace, so a new process would see it too.
    assert (notify_settings.home_dir / notify_settings.notify.state_file).exists()


def test_failing_receiver_is_retried_logged_and_never_raises(
    notify_settings, receiver, drifted_result, caplog
):
    result, _, decision = drifted_result
    receiver.status = 500
    outcome = notify_drift(notify_settings, result, decision, now=0)
    assert not outcome.sent and outcome.failed == ["json"]
    assert outcome.attempts == notify_settings.notify.retries + 1
    assert len(receiver.requests) == notify_settings.notify.retries + 1
    assert "not delivered" in caplog.text
    # Not delivered, so not deduplicated: the next run tries again and succeeds.
    receiver.status = 200
    assert notify_drift(notify_settings, result, decision, now=60).sent


def test_unreachable_and_invalid_urls_do_not_stop_the_working_one(
    notify_settings, receiver, drifted_result
):
    result, _, decision = drifted_result
    notify_settings.notify.retries = 0
    notify_settings.notify.apprise_urls = [
        "json://127.0.0.1:9/nobody-listens",
        "not-a-url",
        receiver.url("ok"),
    ]
    outcome = notify_drift(notify_settings, result, decision, now=0)
    assert outcome.sent
    assert outcome.delivered == ["json"] and len(outcome.failed) == 2
    assert [p for p, _ in receiver.requests] == ["/ok"]


def test_no_urls_means_no_alert_and_no_error(tmp_path, drifted_result):
    from recloop.settings import Settings

    result, _, _ = drifted_result
    outcome = notify_drift(Settings(home=tmp_path), result)
    assert not outcome.sent and outcome.reason == "no alert URLs configured"
    title, body = format_drift_alert(result)
    assert str(len(result.drifted_features)) in title and "Report: (not saved)" in body
