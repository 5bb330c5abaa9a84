"""The errors a sync can end with. Every message names the resource and never the key."""

from __future__ import annotations

from pmcrm.redact import redact

# The platform's HTTP-200 error envelope codes.
ERROR_CODES: dict[int, str] = {
    10: "unknown error",
    11: "authorization failed",
    12: "invalid request",
    13: "internal error - retry later",
    20: "not found",
    21: "validation error",
    22: "access denied",
    30: "unknown method",
    31: "unknown module",
}
RETRYABLE_CODES = frozenset({10, 13})
AUTH_CODES = frozenset({11, 22})


class PmcrmError(Exception):
    """Base of pmcrm's own failures; the message is always redacted."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(redact(message))


class ApiError(PmcrmError):
    """The API answered with its error envelope."""

    def __init__(self, resource: str, page: int, code: int, message: str, attempts: int = 1):
        self.resource, self.page, self.code, self.attempts = resource, page, code, attempts
        meaning = ERROR_CODES.get(code, "undocumented code")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"resource '{resource}', page {page}: API error {code} ({meaning}): {message}{tries}"
        )


class AuthError(ApiError):
    """Codes 11/22: retrying cannot help; the key or its rights are wrong."""

    exit_code = 2

    def __init__(self, resource: str, page: int, code: int, message: str):
        super().__init__(resource, page, code, message)
        self.args = (f"{self.args[0]}. Check the API key (and its access rights) for this base URL.",)


class BadResponseError(PmcrmError):
    """A response that is not the platform's JSON envelope, after all retries."""


class RequestFailedError(PmcrmError):
    """HTTP status or network failure that outlived every retry."""


class IncompleteReadError(PmcrmError):
    """The rows read do not add up to what the API said it holds."""
