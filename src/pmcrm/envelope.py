"""The platform's answers, read: rows and their total, or an error in any shape seen.

The one module that knows what the platform's bodies look like. Shapes, from the spec
and from public code that talks to the real platform (README, "Connecting to your
account"):

- rows: `{"response": {"total": T, "page": N, "count": C, "items": [...]}}`; `total`
  counts rows and some answers name it `total_result` (seen in the wild; also rows).
- the documented error, sent with HTTP 200: `{"error": {"error_code": 11, "error_msg": ...}}`.
- an error as a word: `{"error": "validation", "description": "...", "details": {...}}`.
  Its code is inferred from the words (ERROR_WORDS). Evidence for this shape is thin
  (one client's fixtures): an unknown word is still an error, never data.
- rate limiting: `{"error": "Request rate per second exceeded"}`, reported by clients with
  a non-2xx status that is not documented (not always 429) and no `Retry-After`. Any
  answer whose error text says the request rate was exceeded is a rate limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Words of an error given as text -> the documented code they mean. Matched on the
# lower-cased text with '_' read as a space, first match wins.
ERROR_WORDS: tuple[tuple[str, int], ...] = (
    ("authoriz", 11),
    ("unauthori", 11),
    ("invalid api key", 11),
    ("access denied", 22),
    ("permission", 22),
    ("forbidden", 22),
    ("unknown method", 30),
    ("unknown module", 31),
    ("module is disabled", 31),
    ("module not enabled", 31),
    ("internal", 13),
    ("not found", 20),
    ("validation", 21),
    ("invalid request", 12),
)
_RATE_LIMIT = re.compile(r"rate.{0,40}(exceed|limit)|too many requests|request limit", re.IGNORECASE)
TOTAL_KEYS = ("total", "total_result")


@dataclass(frozen=True)
class ErrorAnswer:
    """An error the API answered: its code (documented or inferred from its words; None
    when neither), its text, and whether it says the request rate was exceeded."""

    code: int | None
    message: str
    rate_limited: bool = False


@dataclass(frozen=True)
class Listing:
    """One page of a list endpoint: its rows and the row count the API announced."""

    items: list[dict[str, Any]]
    total: int | None


class NotAListing(ValueError):
    """A JSON body that is neither rows nor an error."""


def read_error(body: Any) -> ErrorAnswer | None:
    """The error a parsed body carries, in any known shape, or None if it carries none."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    error = body["error"]
    if isinstance(error, dict):
        code = error.get("error_code")
        message = str(error.get("error_msg") or error.get("message") or "")
        if isinstance(code, str) and code.isdigit():
            code = int(code)
        code = code if isinstance(code, int) and not isinstance(code, bool) else code_from_words(message)
        return ErrorAnswer(code, message, is_rate_limit_text(message))
    if error is None or error is False:
        return None
    words = str(error)
    detail = body.get("description") or body.get("message") or ""
    message = f"{words}: {detail}" if detail else words
    return ErrorAnswer(code_from_words(message), message, is_rate_limit_text(message))


def code_from_words(text: str) -> int | None:
    lowered = text.lower().replace("_", " ")
    return next((code for words, code in ERROR_WORDS if words in lowered), None)


def is_rate_limit_text(text: str) -> bool:
    return bool(_RATE_LIMIT.search(text))


def says_rate_limited(status: int, body: Any) -> bool:
    """HTTP 429, or an answer of any status whose error says the rate was exceeded."""
    if status == 429:
        return True
    error = read_error(body)
    return error is not None and error.rate_limited


def read_listing(body: Any) -> Listing:
    """Rows and total of a success body; NotAListing if it has no list of objects."""
    envelope = body.get("response") if isinstance(body, dict) else None
    items = envelope.get("items") if isinstance(envelope, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise NotAListing("the body has neither 'response.items' (a list of objects) nor 'error'")
    return Listing(items, _total(envelope))


def _total(envelope: dict) -> int | None:
    for key in TOTAL_KEYS:
        value = envelope.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
