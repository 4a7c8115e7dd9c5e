"""Drift episodes: page for news, stay quiet for persistence, say once when it is over.

An episode is what drifted (the set of drifted alarm features) under which champion. For
each drift check of a model:

- no open episode: a new episode, paged;
- the champion changed: a new episode (the old drift was about another model), paged;
- a feature drifts that the episode has not seen: paged at once, cooldown or not, and the
  feature joins the episode (a feature that comes and goes does not page twice);
- the same drift persisting (the same features or fewer): quiet until ``cooldown_hours``
  after the last page, then one reminder;
- no drift while an episode is open: one "resolved" message, and the episode closes.

The state lives where the cooldown state always lived: ``notify.state_file`` in the
workspace (a small JSON file, written atomically), so it survives between scheduled runs.
A page that no URL accepted is not recorded as sent, so the next check tries again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from recloop.drift.detect import DriftResult
from recloop.drift.triggers import TriggerDecision
from recloop.notify.alerts import AlertOutcome, send_alert
from recloop.notify.drift_message import NextStep, format_drift_alert, format_resolved
from recloop.settings import Settings

logger = logging.getLogger(__name__)


def notify_drift(
    settings: Settings,
    result: DriftResult,
    decision: TriggerDecision | None = None,
    *,
    now: float | None = None,
    next_step: NextStep | None = None,
) -> AlertOutcome:
    """Page, stay quiet or resolve for one drift check (see the module docstring).

    Args:
        settings: recloop settings (``notify`` section, the workspace for the state).
        result: the drift check.
        decision: the retrain decision taken on it (shown in the alert).
        now: Unix seconds on the data's clock (the loop passes its newest event, so a
            replay's cooldown runs on history's time); default: wall time.
        next_step: what the loop will do about it (the monitor names the triggered run).

    Returns:
        AlertOutcome: never raises for delivery problems.
    """
    now = time.time() if now is None else now
    key = f"drift:{settings.registry.model_name}"
    state = _load_state(settings)
    episode = state.get(key)
    if not result.drift_detected:
        return _close(settings, state, key, episode, result)
    features = sorted(result.drifted_features)
    champion = result.champion_version
    why = _why_page(settings, episode, features, champion, now)
    if why is None:
        return AlertOutcome(
            sent=False, suppressed=True, reason="same drift episode, within cooldown"
        )
    if episode is None or episode.get("champion") != champion:
        episode = {"started": now, "last_sent": None, "features": [], "champion": champion}
    title, body = format_drift_alert(
        result, decision, settings=settings, next_step=next_step, why=why
    )
    outcome = send_alert(settings, title, body, level="warning")
    episode["features"] = sorted(set(episode["features"]) | set(features))
    if outcome.sent:
        episode["last_sent"] = now
    outcome.reason = f"{why}; {outcome.reason}"
    state[key] = episode
    _save_state(settings, state)
    return outcome


def _why_page(
    settings: Settings,
    episode: dict[str, Any] | None,
    features: list[str],
    champion: str | None,
    now: float,
) -> str | None:
    """Why this drifting check pages, or None when it is the same drift within cooldown."""
    if episode is None:
        return "new drift episode"
    if episode.get("champion") != champion:
        return f"new episode: the champion is now version {champion}"
    new = [f for f in features if f not in set(episode.get("features") or [])]
    if new:
        return f"new drifted feature{'s' if len(new) > 1 else ''}: {', '.join(new)}"
    last_sent = episode.get("last_sent")
    if last_sent is None:
        return "drift episode, earlier alert not delivered"
    if now - last_sent >= settings.notify.cooldown_hours * 3600:
        return "still drifting, reminder"
    return None


def _close(
    settings: Settings,
    state: dict[str, Any],
    key: str,
    episode: dict[str, Any] | None,
    result: DriftResult,
) -> AlertOutcome:
    """A clean check: send "resolved" for an episode that paged, then forget it."""
    if episode is None:
        return AlertOutcome(sent=False, reason="no drift")
    if episode.get("last_sent") is None:  # never paged: nothing to take back
        state.pop(key)
        _save_state(settings, state)
        return AlertOutcome(sent=False, reason="no drift; drift episode closed")
    title, body = format_resolved(settings, result, episode)
    outcome = send_alert(settings, title, body, level="info")
    if outcome.sent or not outcome.failed:  # delivered, or nowhere to deliver to
        state.pop(key)
        _save_state(settings, state)
        outcome.reason = f"drift resolved; {outcome.reason}"
    else:  # kept open: the next clean check says "resolved" again
        outcome.reason = f"drift resolved, message not delivered; {outcome.reason}"
    return outcome


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
