"""Alert URLs carry credentials (a Slack webhook's tokens, an e-mail password); keep them
out of every log line, including the lines Apprise and urllib3 write themselves.

recloop's own messages name a URL by its scheme only (:func:`safe_scheme`). Apprise logs a
malformed URL in full at ERROR and, at DEBUG, the Slack endpoint with its tokens; urllib3
logs request paths at DEBUG. Rather than silence those libraries (their words explain why
a delivery failed), :func:`guard_urls` puts a filter on their loggers that replaces every
secret fragment of the configured URLs with ``***`` before any handler sees the record.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote

REDACTED = "***"
MIN_FRAGMENT = 6  # shorter host/path pieces ("hooks", "json") are not credentials
MIN_PASSWORD = 3
# Loggers that quote URLs or request paths; a filter acts only on its own logger's records.
GUARDED_LOGGERS = (
    "apprise",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
_SEPARATORS = re.compile(r"[/?&=@:#,;!]+")


def safe_scheme(url: str) -> str:
    """The URL's scheme for log lines and outcomes, or "(unparseable)": never more."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep and _SCHEME.fullmatch(head) else "(unparseable)"


def secret_fragments(url: str) -> set[str]:
    """Every piece of ``url`` that may be a credential, as written and URL-(un)quoted.

    The whole URL, everything after the scheme, the password, and each host, path, query
    or fragment piece of at least ``MIN_FRAGMENT`` characters (Slack's tokens are path
    pieces and its first token is the "host").
    """
    url = url.strip()
    fragments = {url}
    _, sep, rest = url.partition("://")
    if not sep:
        rest = url
    fragments.add(rest)
    userinfo = rest.split("/", 1)[0].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    if len(password) >= MIN_PASSWORD:
        fragments.add(password)
    fragments.update(p for p in _SEPARATORS.split(rest) if len(p) >= MIN_FRAGMENT)
    variants = set()
    for fragment in fragments:
        variants.update({unquote(fragment), quote(fragment, safe=""), quote(fragment)})
    return {f for f in fragments | variants if len(f) >= MIN_PASSWORD}


def redact(text: str, fragments: Iterable[str]) -> str:
    """``text`` with every fragment replaced by ``***`` (longest first)."""
    for fragment in sorted(set(fragments), key=len, reverse=True):
        if fragment and fragment in text:
            text = text.replace(fragment, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) without the known secrets."""

    def __init__(self) -> None:
        super().__init__()
        self.fragments: set[str] = set()
        self._lock = threading.Lock()

    def add(self, urls: Iterable[str]) -> None:
        with self._lock:
            for url in urls:
                self.fragments |= secret_fragments(url)

    def filter(self, record: logging.LogRecord) -> bool:
        fragments = self.fragments
        if not fragments:
            return True
        message = record.getMessage()
        cleaned = redact(message, fragments)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, fragments)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, fragments)
        return True


_FILTER = RedactingFilter()


def guard_urls(urls: Iterable[str]) -> None:
    """Make the libraries' loggers redact ``urls`` from now on (idempotent, thread-safe)."""
    _FILTER.add(urls)
    for name in GUARDED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
