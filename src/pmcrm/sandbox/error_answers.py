"""The platform's error answers: the codes, their messages and words, and the two body shapes.

Errors travel as HTTP 200. The spec's shape is the envelope
``{"error": {"error_code": 12, "error_msg": "Invalid request: ..."}}``; answers seen
from live accounts also use ``{"error": "invalid_request", "description": "...",
"details": {}}`` (``error_shape="string"``). Both carry the same message.
"""

from __future__ import annotations

import orjson

# code: (message, the word of the string shape)
ERRORS = {
    10: ("Unknown error", "unknown"),
    11: ("Authorization failed", "authorization_failed"),
    12: ("Invalid request", "invalid_request"),
    13: ("Internal error - retry later", "internal_error"),
    20: ("Not found", "not_found"),
    21: ("Validation error", "validation"),
    22: ("Access denied", "access_denied"),
    30: ("Unknown method", "unknown_method"),
    31: ("Unknown module", "unknown_module"),
}
ERROR_SHAPES = ("envelope", "string")
UNAVAILABLE_CODES = (22, 30, 31)  # what a module the key cannot use answers


class BadRequest(Exception):
    """A request parameter the API refuses with error 12."""


def error_message(code: int, detail: str | None = None) -> str:
    return ERRORS[code][0] + (f": {detail}" if detail else "")


def error_body(code: int, detail: str | None = None, shape: str = "envelope") -> bytes:
    message = error_message(code, detail)
    if shape == "string":
        return orjson.dumps({"error": ERRORS[code][1], "description": message, "details": {}})
    return orjson.dumps({"error": {"error_code": code, "error_msg": message}})
