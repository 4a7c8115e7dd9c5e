"""Alerts through Apprise URLs (Slack, Teams, e-mail, JSON webhooks), deduplicated.

Where alerts go: ``settings.notify.apprise_urls`` plus, optionally, the URLs stored in a
Prefect Secret block (``settings.notify.secret_block``), so credentials can live in Prefect.

One drift episode pages once: the first drifting check sends, later drifting checks within
``cooldown_hours`` of the last alert stay quiet, and a clean check closes the episode (the
next drift pages again). The state is a small JSON file in the workspace, so it survives
between scheduled runs. Delivery failures are retried per URL and logged; they never raise,
because a broken webhook must not stop the loop.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recloop.drift.detect import DriftResult
from recloop.drift.triggers import TriggerDecision
from recloop.settings import Settings

logger = logging.getLogger(__name__)
MAX_FEATURES_IN_ALERT = 8


@dataclass
class AlertOutcome:
    """What happened to one alert: sent, suppressed by the cooldown, or not needed."""

    sent: bool
    suppressed: bool = False
    reason: str = ""
    delivered: list[str] = field(default_factory=list)  # URL schemes that accepted it
    failed: list[str] = field(default_factory=list)
    attempts: int = 0


def notify_drift(
    settings: Settings,
    result: DriftResult,
    decision: TriggerDecision | None = None,
    *,
    now: float | None = None,
) -> AlertOutcome:
    """Alert on a drift check's result, once per drift episode per cooldown.

    Args:
        settings: recloop settings (``notify`` section, workspace for the state file).
        result: a ``DriftResult``.
        decision: the ``TriggerDecision`` taken on it (shown in the alert), optional.
        now: Unix seconds on the clock of the data (the loop passes its newest event, so a
            replay's cooldown runs on history's time); default: wall time.

    Returns:
        AlertOutcome: never raises for delivery problems.
    """
    now = time.time() if now is None else now
    key = f"drift:{settings.registry.model_name}"
    state = _load_state(settings)
    episode = state.get(key)
    if not result.drift_detected:
        if episode is not None:
            state.pop(key)
            _save_state(settings, state)
            return AlertOutcome(sent=False, reason="no drift; drift episode closed")
        return AlertOutcome(sent=False, reason="no drift")
    cooldown = settings.notify.cooldown_hours * 3600
    last_sent = (episode or {}).get("last_sent")
    if last_sent is not None and now - last_sent < cooldown:
        return AlertOutcome(
            sent=False, suppressed=True, reason="same drift episode, within cooldown"
        )
    title, body = format_drift_alert(result, decision)
    outcome = send_alert(settings, title, body, level="warning")
    episode = episode or {"started": now, "last_sent": None}
    episode["features"] = list(result.drifted_features)
    if outcome.sent:
        episode["last_sent"] = now
    state[key] = episode
    _save_state(settings, state)
    return outcome


def format_drift_alert(
    result: DriftResult, decision: TriggerDecision | None = None
) -> tuple[str, str]:
    """Title and body: what drifted, by how much, the decision, where the report is."""
    n = len(result.drifted_features)
    title = (
        f"recloop drift detected: {n} feature{'s' if n != 1 else ''} ({result.share_drifted:.0%})"
    )
    lines = [f"Drift in {n} feature(s), share of alarm features {result.share_drifted:.0%}."]
    for stat in [s for s in result.feature_stats if s.drifted][:MAX_FEATURES_IN_ALERT]:
        lines.append(
            f"- {stat.feature}: {stat.method} {stat.score:.3f} >= {stat.threshold:g} "
            f"({stat.reference_summary} -> {stat.current_summary})"
        )
    if decision is not None:
        verdict = "retrain" if decision.should_retrain else "no retrain"
        lines.append(
            f"Decision: {verdict}"
            + (f" ({'; '.join(decision.reasons)})" if decision.reasons else "")
        )
    lines.append(f"Report: {result.report_path or '(not saved)'}")
    return title, "\n".join(lines)


def send_alert(
    settings: Settings, title: str, body: str, *, level: str = "warning"
) -> AlertOutcome:
    """Send one message to every configured Apprise URL, with retries; never raises.

    Each URL is tried on its own (``notify.retries`` extra attempts,
    ``notify.retry_delay_seconds`` apart) so a dead endpoint neither blocks nor duplicates
    delivery to the others. ``sent`` is True when at least one URL accepted it.
    """
    urls = resolve_urls(settings)
    if not urls:
        return AlertOutcome(sent=False, reason="no alert URLs configured")
    import apprise

    notify_type = {
        "info": apprise.NotifyType.INFO,
        "warning": apprise.NotifyType.WARNING,
        "failure": apprise.NotifyType.FAILURE,
    }.get(level, apprise.NotifyType.WARNING)
    outcome = AlertOutcome(sent=False)
    for url in urls:
        scheme = url.split("://", 1)[0]
        ok, attempts = _send_one(url, title, body, notify_type, settings)
        outcome.attempts += attempts
        (outcome.delivered if ok else outcome.failed).append(scheme)
    outcome.sent = bool(outcome.delivered)
    outcome.reason = f"delivered to {len(outcome.delivered)} of {len(urls)} URL(s)"
    return outcome


def _send_one(
    url: str, title: str, body: str, notify_type: Any, settings: Settings
) -> tuple[bool, int]:
    """Deliver to one URL with retries; log (without the URL's secrets) on failure.

    Returns (delivered, attempts made). tenacity runs the attempts: ``notify.retries`` more
    after the first, ``notify.retry_delay_seconds`` apart, no wait after the last.
    """
    import apprise
    from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_fixed

    scheme = url.split("://", 1)[0]
    client = apprise.Apprise()
    if not client.add(url):
        logger.error("alert URL with scheme %r is not a valid Apprise URL; skipped", scheme)
        return False, 0
    attempts = settings.notify.retries + 1

    def attempt() -> bool:
        try:
            return bool(client.notify(title=title, body=body, notify_type=notify_type))
        except Exception as exc:  # a plugin bug must not crash the caller
            logger.warning("alert via %s raised %s: %s", scheme, type(exc).__name__, exc)
            return False

    def log_failure(state: Any) -> None:
        logger.warning(
            "alert via %s failed (attempt %d of %d)", scheme, state.attempt_number, attempts
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_fixed(settings.notify.retry_delay_seconds),
        retry=retry_if_result(lambda delivered: not delivered),
        after=log_failure,
        retry_error_callback=lambda state: False,  # out of attempts: not delivered, no raise
    )
    delivered = retrying(attempt)
    made = int(retrying.statistics["attempt_number"])
    if not delivered:
        logger.error("alert via %s not delivered after %d attempts", scheme, made)
    return delivered, made


def resolve_urls(settings: Settings) -> list[str]:
    """Apprise URLs from settings plus the Prefect Secret block, if one is named."""
    urls = [u for u in settings.notify.apprise_urls if u.strip()]
    name = settings.notify.secret_block
    if name:
        try:
            from prefect.blocks.system import Secret

            urls += _split_urls(Secret.load(name).get())
        except Exception as exc:
            logger.error("could not read alert URLs from Prefect Secret %r: %s", name, exc)
    return list(dict.fromkeys(urls))


def _split_urls(value: Any) -> list[str]:
    """A Secret's value: a list of URLs, or one string separated by commas/new lines."""
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).replace("\n", ",")
    return [part.strip() for part in text.split(",") if part.strip()]


def _state_path(settings: Settings) -> Path:
    return settings.home_dir / settings.notify.state_file


def _load_state(settings: Settings) -> dict[str, Any]:
    path = _state_path(settings)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        logger.warning("alert state %s unreadable (%s); starting afresh", path, exc)
        return {}


def _save_state(settings: Settings, state: dict[str, Any]) -> None:
    """Atomic write: a crash mid-write never leaves a corrupt state file."""
    path = _state_path(settings)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)
