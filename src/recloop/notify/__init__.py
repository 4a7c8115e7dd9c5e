"""Alerts through Apprise URLs (Slack, Teams, e-mail, JSON webhooks): delivery
(``alerts.py``), drift episodes that page for news only (``episodes.py``), the message
(``drift_message.py``), links to the UIs (``links.py``) and secret redaction (``redact.py``)."""

from recloop.notify.alerts import AlertOutcome, send_alert
from recloop.notify.drift_message import NextStep, format_drift_alert
from recloop.notify.episodes import notify_drift
from recloop.notify.links import flow_run_link

__all__ = [
    "AlertOutcome",
    "NextStep",
    "flow_run_link",
    "format_drift_alert",
    "notify_drift",
    "send_alert",
]
