"""Every error pmcrm raises, and the exit code each means. Every message names what failed
(resource, setting or table) and never the key.

Exit codes: 1 the next run may succeed by itself; 2 a human must act (key, URL, a
setting); 3 another run of the same pipeline holds the lock (nothing was done)."""

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
AUTH_CODES = frozenset({11})
# A resource the key cannot read: accounts enable the platform's apps one by one, and
# other clients have seen 30 (not only 22) for "access denied" on a module.
UNAVAILABLE_CODES = frozenset({22, 30, 31})
# Why a resource is unavailable, as the summary says it (HTTP 404 under 0).
UNAVAILABLE_REASONS: dict[int, str] = {
    22: "no access (error 22: access denied)",
    30: "not available to this key (error 30: unknown method)",
    31: "module not enabled (error 31: unknown module)",
    404: "not found (HTTP 404)",
}


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
    """Code 11: the key was refused. Retrying cannot help, nor can any other resource."""

    exit_code = 2

    def __init__(self, resource: str, page: int, code: int, message: str):
        super().__init__(resource, page, code, message)
        self.args = (f"{self.args[0]}. Check the API key for this base URL.",)


class UnavailableError(ApiError):
    """The key cannot read this resource (codes 22/30/31, or HTTP 404 for its URL).
    On a resource's first page this skips the resource (see pmcrm.availability);
    anywhere else it fails the run like any other API error."""

    def __init__(self, resource: str, page: int, code: int, message: str):
        super().__init__(resource, page, code, message)
        self.reason = UNAVAILABLE_REASONS.get(code, f"unavailable (code {code})")
        if code == 404:
            self.args = (f"resource '{resource}', page {page}: HTTP 404 (no such endpoint at this URL)",)


class RateLimitedError(PmcrmError):
    """The API kept saying the request rate was exceeded, after every attempt."""


class NothingReadableError(PmcrmError):
    """No selected resource was readable: a wrong base URL (every answer 'not found' or
    'unknown module') or a key without rights. A human must act."""

    exit_code = 2


class SettingsError(PmcrmError):
    """A setting a human must fix before any request is worth making."""

    exit_code = 2


class MissingSettingError(SettingsError):
    """No base URL or API key anywhere pmcrm looks (pmcrm.settings)."""


class MissingIdError(PmcrmError, ValueError):
    """A row without `id` in a resource merged on `id`: it cannot be loaded safely."""


LOCKED_EXIT_CODE = 3


class LockHeldError(PmcrmError):
    """Another run of the same pipeline holds the lock; this one did nothing."""

    exit_code = LOCKED_EXIT_CODE


class DatasetNotFound(PmcrmError):
    """`pmcrm report`/`views` on a destination that holds no synced dataset."""

    exit_code = 2


INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report a Ctrl-C


class RunInterrupted(PmcrmError):
    """Ctrl-C (or SIGINT): the message says what of the run reached the destination."""

    exit_code = INTERRUPTED_EXIT_CODE


class SyncFailedError(PmcrmError):
    """A sync that did not load every selected resource completely (`SyncResult.raise_for_failure`).
    `result` is the run's whole `SyncResult`; the exit code is the run's."""

    def __init__(self, result) -> None:
        super().__init__(f"sync failed: {result.error}")
        self.result = result
        self.exit_code = result.exit_code


class BadResponseError(PmcrmError):
    """A response that is not the platform's JSON envelope, after all retries."""


class RequestFailedError(PmcrmError):
    """HTTP status or network failure that outlived every retry."""


class IncompleteReadError(PmcrmError):
    """The rows read do not add up to what the API said it holds."""
