"""HTTP for one API account: the retrying session, pacing, the URL form, and what each
answer means (read by pmcrm.envelope).

Retries come from dlt's `Client` (tenacity: 429/5xx, connection errors, timeouts,
`Retry-After`). On top of it this module adds what the platform needs: its HTTP-200
error envelope (codes 10/13 are retried; 11 stops the run; 22/30/31 and HTTP 404 say a
resource is unavailable), rate limiting in any form (429, or any status whose body says
the rate was exceeded), broken or non-JSON bodies (retried, then a clear failure),
jitter on the backoff, a shared rate limiter, the URL form learnt from the first answer
(pmcrm.urls) and request statistics. Every error message is redacted: the key travels
in the URL.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson
import requests
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS, DEFAULT_RETRY_STATUS, _make_retry
from dlt.sources.helpers.requests.session import Session
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError
from tenacity import RetryCallState, wait_random

from pmcrm.envelope import ErrorAnswer, NotAListing, read_error, read_listing, says_rate_limited
from pmcrm.errors import (
    AUTH_CODES,
    RETRYABLE_CODES,
    UNAVAILABLE_CODES,
    ApiError,
    AuthError,
    BadResponseError,
    RateLimitedError,
    RequestFailedError,
    UnavailableError,
)
from pmcrm.ratelimit import RateLimiter
from pmcrm.redact import register_secret
from pmcrm.urls import ApiLocation, candidate_locations, split_base_url

# Answers that say "no such endpoint here": the URL's form may be wrong (or the module off).
URL_SHAPE_CODES = frozenset({404, 30, 31})


DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class HttpSettings:
    """How hard to try. `worst_case_seconds()` bounds one request that keeps failing;
    with the defaults: 5 attempts of up to 10 s to connect + 30 s of silence, 1+2+4+8 s
    of backoff and up to 1 s of jitter per wait = 219 s; answered 429 with a long
    Retry-After, each wait is capped at `max_retry_delay` (60 s): 444 s. Then the request
    fails and the sync with it. Not counted: time queued behind the shared rate limiter.
    Not bounded: a server that trickles bytes more often than every `timeout` seconds
    (the timeout is per read, as in requests)."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 5
    backoff_factor: float = 1.0
    max_retry_delay: float = 60.0
    jitter: float = 1.0
    # 16 requests in flight: at 50 ms per request, 8 left the run waiting on the network
    # (benchmarks/README.md, scenario 2); the token bucket, not this, protects the API.
    concurrency: int = DEFAULT_CONCURRENCY
    rate_limit: float | None = None

    def worst_case_seconds(self, retry_after: bool = False) -> float:
        """Longest one failing request takes: every attempt times out (connect, then read),
        every wait is the full backoff (or `max_retry_delay`, for a long Retry-After)."""
        waits = [self.max_retry_delay if retry_after else min(self.backoff_factor * 2**n, self.max_retry_delay)
                 for n in range(self.max_attempts - 1)]
        attempts = self.max_attempts * (self.connect_timeout + self.timeout)
        return attempts + sum(waits) + (self.max_attempts - 1) * self.jitter


@dataclass
class RequestStats:
    """Thread-safe counters for the run summary."""

    requests: int = 0
    retries: Counter = field(default_factory=Counter)
    pages: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    bad_values: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, counter: str, key: str = "", amount: int = 1) -> None:
        with self._lock:
            if counter == "requests":
                self.requests += amount
            else:
                getattr(self, counter)[key] += amount

    @property
    def total_retries(self) -> int:
        return sum(self.retries.values())


@dataclass(frozen=True)
class Page:
    number: int
    total: int | None
    items: list[dict[str, Any]]


# orjson reads an integer beyond 64 bits as a float, silently rounding it (a 20-digit
# reference sent as a JSON number). A body with a run of 20+ digits anywhere is parsed
# again by the standard library, which keeps integers exact. The check maps digits to
# '0' and the rest to ' ', then searches once: ~0.3 ms per 150 KB page (a regex: ~4 ms).
_DIGITS_ONLY = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_NUMBER = b"0" * 20


def _loads(content: bytes) -> Any:
    body = orjson.loads(content)
    if _LONG_NUMBER in content.translate(_DIGITS_ONLY):
        body = json.loads(content)
    return body


def parsed_body(response: requests.Response) -> Any:
    """The JSON body, parsed once and cached on the response (retry checks read it too)."""
    if not hasattr(response, "_pmcrm_body"):
        try:
            response._pmcrm_body = _loads(response.content)
        except (orjson.JSONDecodeError, requests.RequestException):
            response._pmcrm_body = None
    return response._pmcrm_body


def rate_limited(response: requests.Response) -> bool:
    return says_rate_limited(response.status_code, parsed_body(response))


def _retry_reason(response: requests.Response | None, exception: BaseException | None) -> str | None:
    """Why a response deserves another attempt beyond dlt's defaults, or None."""
    if response is None:
        return None
    if rate_limited(response):
        return "http 429" if response.status_code == 429 else f"rate limit (http {response.status_code})"
    if response.status_code != 200:
        return None
    body = parsed_body(response)
    if body is None:
        return "broken body"
    error = read_error(body)
    if error is not None and error.code in RETRYABLE_CODES:
        return f"error {error.code}"
    return None


class _PacedAdapter(HTTPAdapter):
    """Every attempt, first or retry, waits for the shared rate limiter and is counted."""

    def __init__(self, limiter: RateLimiter, stats: RequestStats, **kwargs: Any):
        super().__init__(**kwargs)
        self.limiter, self.stats = limiter, stats

    def send(self, request, stream=False, **kwargs):  # type: ignore[override]
        left = self.limiter.acquire()
        self.stats.add("requests")
        response = super().send(request, stream=stream, **kwargs)
        response.pmcrm_left = left  # when it left: how the limiter tells episodes apart
        if not stream:
            _read_whole_body(response)
            if not rate_limited(response):
                self.limiter.on_success(left)
        return response


def _read_whole_body(response: requests.Response) -> None:
    """The body in one read. Why: requests reads it in 10 KB chunks, ~0.2 ms more CPU
    per 150 KB page (measured when this was written, not re-run by the benchmark).
    Errors are mapped exactly as requests maps them in `Response.iter_content` (a cut
    body stays a retried ChunkedEncodingError); `_content` is where requests keeps a
    read body."""
    try:
        response._content = response.raw.read(decode_content=True)
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None
    response._content_consumed = True


class _RetryingClient(Client):
    """dlt's retrying client plus jitter, pacing and a retry counter."""

    def __init__(self, settings: HttpSettings, limiter: RateLimiter, stats: RequestStats,
                 base_url: str | None = None):
        self._base_url = base_url
        super().__init__(
            request_timeout=(settings.connect_timeout, settings.timeout),
            max_connections=max(settings.concurrency, 1) * 2,
            raise_for_status=False,
            request_max_attempts=settings.max_attempts,
            retry_condition=lambda response, exc: _retry_reason(response, exc) is not None,
            request_backoff_factor=settings.backoff_factor,
            request_max_retry_delay=settings.max_retry_delay,
        )
        self._adapter = _PacedAdapter(limiter, stats, pool_maxsize=max(settings.concurrency, 1) * 2)
        self._jitter, self._limiter, self._stats = settings.jitter, limiter, stats
        self._max_delay = settings.max_retry_delay

    def _make_session(self) -> Session:
        # Same as dlt's, with jitter added to the wait and a hook before each retry sleep.
        # PRIVATE dlt API, used here only: `Client._make_session` (overridden),
        # `Client._session_kwargs`, `Client._retry_kwargs` and `retry._make_retry` (dlt 1.31).
        # If a dlt upgrade renames or reshapes them, sessions fail to build and every
        # request with them; tests/test_dlt_private_api.py fails first, naming which.
        session = Session(**self._session_kwargs)  # type: ignore[arg-type]
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        retry = _make_retry(**self._retry_kwargs)
        retry.wait = retry.wait + wait_random(0, self._jitter)
        retry.before_sleep = self._before_sleep
        session.send = retry.wraps(session.send)  # type: ignore[method-assign]
        if self._base_url is not None:
            # Resolved once for the one base URL: with `trust_env` requests reads proxy, CA
            # bundle and netrc settings from the environment again on every request.
            found = session.merge_environment_settings(self._base_url, {}, None, None, None)
            session.proxies.update(found["proxies"])
            session.verify, session.cert = found["verify"], found["cert"]
            session.trust_env = False
        return session

    def _before_sleep(self, state: RetryCallState) -> None:
        exception = state.outcome.exception() if state.outcome else None
        response = None if exception else state.outcome.result()
        if response is not None and rate_limited(response):
            self._limiter.on_throttled(_retry_after_seconds(response, self._max_delay),
                                       getattr(response, "pmcrm_left", None))
            reason = _retry_reason(response, None)
        elif response is not None:
            reason = _retry_reason(response, None) or f"http {response.status_code}"
        else:
            reason = type(exception).__name__
        self._stats.add("retries", reason)


def _after(attempts: int) -> str:
    return "after 1 attempt" if attempts == 1 else f"after {attempts} attempts"


def _retry_after_seconds(response: requests.Response, cap: float) -> float | None:
    # Capped as dlt caps its own wait: one 'Retry-After: 86400' must not pause every thread.
    value = response.headers.get("Retry-After", "")
    return min(float(value), cap) if value.strip().isdigit() else None


class LocationResolver:
    """The API's URL form, learnt from the first answer that proves it (pmcrm.urls).

    While several forms are possible, one request at a time tries them in order; an
    answer that the endpoint exists (rows, or any error but 404 / 30 / 31) settles the
    form for every later request. A resource that answers 404 / 30 / 31 in every form
    settles nothing: it may be a module the key cannot use, and the next resource tries
    again. Costs no request when the first form is right."""

    def __init__(self, candidates: list[ApiLocation]):
        self.candidates = candidates
        self.settled: ApiLocation | None = candidates[0] if len(candidates) == 1 else None
        self.lock = threading.Lock()

    @property
    def best_guess(self) -> ApiLocation:
        return self.settled or self.candidates[0]


def _says_url_is_wrong(error: UnavailableError) -> bool:
    return error.code in URL_SHAPE_CODES


class ApiClient:
    """Fetches pages of list endpoints and turns every failure into a clear PmcrmError."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        settings: HttpSettings | None = None,
        stats: RequestStats | None = None,
        path_prefix: str = "",
        endpoint_tails: Iterable[str] = (),
    ):
        register_secret(api_key)
        self.locations = LocationResolver(candidate_locations(base_url, path_prefix, endpoint_tails))
        self.api_key = api_key
        self.settings = settings or HttpSettings()
        self.stats = stats if stats is not None else RequestStats()
        self.limiter = RateLimiter(self.settings.rate_limit)
        origin = split_base_url(base_url)[0]
        self._client = _RetryingClient(self.settings, self.limiter, self.stats, base_url=origin)

    @property
    def location(self) -> ApiLocation:
        """Where requests go: the settled URL form, else the first to try."""
        return self.locations.best_guess

    def fetch_page(
        self, resource: str, path: str, page: int, limit: int, params: dict[str, Any] | None = None
    ) -> Page:
        """Page `page` of the endpoint declared at `path` (the spec's '/v1/...' form)."""
        settled = self.locations.settled
        if settled is not None:
            return self._fetch_at(settled, resource, path, page, limit, params)
        with self.locations.lock:
            if self.locations.settled is None:
                return self._find_location(resource, path, page, limit, params)
        return self._fetch_at(self.locations.settled, resource, path, page, limit, params)

    def _find_location(self, resource: str, path: str, page: int, limit: int, params: dict | None) -> Page:
        first_refusal: UnavailableError | None = None
        for candidate in self.locations.candidates:
            try:
                answer = self._fetch_at(candidate, resource, path, page, limit, params)
            except UnavailableError as exc:
                if not _says_url_is_wrong(exc):
                    self.locations.settled = candidate
                    raise
                first_refusal = first_refusal or exc
                continue
            except ApiError:
                self.locations.settled = candidate  # the endpoint is there: it answered
                raise
            self.locations.settled = candidate
            return answer
        raise first_refusal

    def _fetch_at(self, location: ApiLocation, resource: str, path: str, page: int, limit: int,
                  params: dict[str, Any] | None) -> Page:
        query = {"api_key": self.api_key, "page": page, "limit": limit, **(params or {})}
        failure: Exception | None = None
        try:
            response = self._client.session.get(location.url(path), params=query)
        except requests.RequestException as exc:
            # Built outside the except block so the original (URL-bearing) exception
            # is not chained into tracebacks.
            tries = self.settings.max_attempts if isinstance(exc, DEFAULT_RETRY_EXCEPTIONS) else 1
            failure = RequestFailedError(
                f"resource '{resource}', page {page}: {type(exc).__name__} {_after(tries)}: {exc}"
            )
        if failure is not None:
            raise failure
        page_obj = self._page_from(response, resource, page)
        self.stats.add("pages", resource)
        return page_obj

    def _page_from(self, response: requests.Response, resource: str, page: int) -> Page:
        attempts = self.settings.max_attempts
        where = f"resource '{resource}', page {page}"
        body = parsed_body(response)
        if rate_limited(response):
            raise RateLimitedError(
                f"{where}: the API still answered that the request rate was exceeded "
                f"(HTTP {response.status_code}) {_after(attempts)}; set --rate-limit below your plan's limit"
            )
        if response.status_code == 404:
            raise UnavailableError(resource, page, 404, "HTTP 404")
        error = read_error(body)
        if error is not None and error.code is not None:
            _raise_for_code(resource, page, error, attempts)
        if response.status_code != 200:
            # dlt retries 429 and 5xx only: any other status failed at its first attempt.
            tries = attempts if response.status_code in DEFAULT_RETRY_STATUS else 1
            said = f": {error.message}" if error is not None and error.message else ""
            raise RequestFailedError(f"{where}: HTTP {response.status_code} {_after(tries)}{said}")
        if body is None:
            snippet = response.content[:80].decode("utf-8", "replace")
            raise BadResponseError(
                f"{where}: the body is not JSON after {attempts} attempts (starts with {snippet!r})"
            )
        if error is not None:
            raise ApiError(resource, page, -1, error.message)
        try:
            listing = read_listing(body)
        except NotAListing as exc:
            raise BadResponseError(f"{where}: {exc}") from None
        return Page(page, listing.total, listing.items)


def _raise_for_code(resource: str, page: int, error: ErrorAnswer, attempts: int) -> None:
    code = error.code
    if code in AUTH_CODES:
        raise AuthError(resource, page, code, error.message)
    if code in UNAVAILABLE_CODES:
        raise UnavailableError(resource, page, code, error.message)
    retried = attempts if code in RETRYABLE_CODES else 1
    raise ApiError(resource, page, code, error.message, retried)
