"""Delivery of one message to every configured Apprise URL (Slack, Teams, e-mail, webhooks).

Where alerts go: ``settings.notify.apprise_urls`` plus, optionally, the URLs stored in a
Prefect Secret block (``settings.notify.secret_block``), so credentials can live in Prefect.
The URLs are secrets: log lines and outcomes name a URL by its scheme only, and the loggers
of Apprise and urllib3 redact them (``redact.guard_urls``). Delivery failures are retried
per URL and logged; they never raise, because a broken webhook must not stop the loop.
Which drift checks page at all is ``episodes.py``'s business.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from recloop.notify.redact import guard_urls, safe_scheme
from recloop.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class AlertOutcome:
    """What happened to one alert: sent, suppressed by the cooldown, or not needed."""

    sent: bool
    suppressed: bool = False
    reason: str = ""
    delivered: list[str] = field(default_factory=list)  # URL schemes that accepted it
    failed: list[str] = field(default_factory=list)
    attempts: int = 0


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
    guard_urls(urls)  # before Apprise's first log line (it logs while importing plugins)
    import apprise

    notify_type = {
        "info": apprise.NotifyType.INFO,
        "warning": apprise.NotifyType.WARNING,
        "failure": apprise.NotifyType.FAILURE,
    }.get(level, apprise.NotifyType.WARNING)
    outcome = AlertOutcome(sent=False)
    for url in urls:
        scheme = safe_scheme(url)
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

    scheme = safe_scheme(url)
    client = apprise.Apprise()
    if not client.add(url):
        logger.error("an alert URL (scheme %s) is not a valid Apprise URL; skipped", scheme)
        return False, 0
    attempts = settings.notify.retries + 1

    def attempt() -> bool:
        try:
            return bool(client.notify(title=title, body=body, notify_type=notify_type))
        except Exception as exc:  # a plugin bug must not crash the caller
            # The exception's text may quote the URL: only its type is logged.
            logger.warning("alert via %s raised %s", scheme, type(exc).__name__)
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
    """Apprise URLs from settings plus the Prefect Secret block, if one is named.

    The only place the secret values are read: they go to Apprise and nowhere else.
    """
    urls = [u.get_secret_value().strip() for u in settings.notify.apprise_urls]
    urls = [u for u in urls if u]
    name = settings.notify.secret_block
    if name:
        try:
            from prefect.blocks.system import Secret

            urls += _split_urls(Secret.load(name).get())
        except Exception as exc:  # its text could quote the value: only the type is logged
            logger.error(
                "could not read alert URLs from Prefect Secret %r (%s)", name, type(exc).__name__
            )
    return list(dict.fromkeys(urls))


def _split_urls(value: Any) -> list[str]:
    """A Secret's value: a list of URLs, or one string separated by commas/new lines."""
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).replace("\n", ",")
    return [part.strip() for part in text.split(",") if part.strip()]
