"""Keeps the API key out of everything pmcrm prints or writes.

The platform wants the key in the URL query, so any URL in a log line or an exception
would leak it. Every known secret is replaced by `***` in our own messages and, through
a logging filter, in the log records of the libraries underneath (urllib3 logs full URLs
at debug level).
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Remember a secret (and its URL-encoded forms) so `redact` hides it everywhere, and
    mask it in log records from then on - also for library use, without the CLI."""
    if not secret:
        return
    global _pattern
    with _lock:
        _secrets.update({secret, quote(secret, safe=""), quote(secret), quote_plus(secret)})
        _pattern = _compile(_secrets)
    install_log_redaction()


# A secret is masked where it stands as a value (in a query string, a URL, a header, a
# JSON value, a sentence): not where it is only part of a longer run of URL characters.
# Why: masking every occurrence damaged ordinary text around a short key
# ("Ma*** retries e***ceeded" for the key 'x'); pmcrm also refuses keys that short.
_VALUE_EDGE = r"A-Za-z0-9_%-"
_pattern: re.Pattern | None = None


def redact(text: str) -> str:
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def _compile(secrets: set[str]) -> re.Pattern | None:
    if not secrets:
        return None
    alternatives = "|".join(re.escape(secret) for secret in sorted(secrets, key=len, reverse=True))
    return re.compile(f"(?<![{_VALUE_EDGE}])(?:{alternatives})(?![{_VALUE_EDGE}])")


class RedactingFilter(logging.Filter):
    """Rewrites a log record's final message with every known secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


_FILTER = RedactingFilter()
# Loggers that may format a request URL; filters on a logger only see its own records.
_URL_LOGGERS = ("", "urllib3", "urllib3.connectionpool", "urllib3.util.retry", "dlt", "requests")


def install_log_redaction() -> None:
    """Attach the filter to the loggers and handlers that could see a URL (idempotent)."""
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
