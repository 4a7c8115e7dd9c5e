"""Alerts through Apprise URLs (Slack, Teams, e-mail, JSON webhooks), deduplicated per
drift episode; see ``alerts.py``."""

from recloop.notify.alerts import AlertOutcome, format_drift_alert, notify_drift, send_alert

__all__ = ["AlertOutcome", "format_drift_alert", "notify_drift", "send_alert"]
