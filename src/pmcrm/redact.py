"""Keeps the API key out of everything pmcrm prints or writes.

The platform wants the key in the URL query, so any URL in a log line or an exception
would leak it. Every known secret is replaced by `***` in our own messages and, through
a logging filter, in the log records of the libraries underneath (urllib3 logs full URLs
at debug level).
"""

from __future__ import annotations

import logging
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
    with _lock:
        _secrets.update({secret, quote(secret, safe=""), quote(secret), quote_plus(secret)})
    install_log_redaction()


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


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
