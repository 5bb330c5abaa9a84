"""One API account: the URL form, and what each answer means - a page of rows, or the
error it says (read by pmcrm.envelope). Sending, pacing and retrying are pmcrm.transport's.

Code 11 stops the run; 22/30/31 and HTTP 404 say a resource is unavailable; 10/13, 5xx,
rate limits, broken bodies and network failures were retried by the transport and fail
here only once every attempt is spent. Every error message is redacted: the key travels
in the URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pmcrm.envelope import ErrorAnswer, NotAListing, read_error, read_listing
from pmcrm.errors import (
    AUTH_CODES,
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
from pmcrm.transport import MAX_REDIRECTS, HttpSettings, Reply, RequestStats, Transport
from pmcrm.urls import ApiLocation, candidate_locations, require_encryption, split_base_url

# Answers that say "no such endpoint here": the URL's form may be wrong (or the module off).
URL_SHAPE_CODES = frozenset({404, 30, 31})


@dataclass(frozen=True)
class Page:
    number: int
    total: int | None
    items: list[dict[str, Any]]


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
        self.settings.check()
        require_encryption(base_url, self.settings.allow_http)
        self.stats = stats if stats is not None else RequestStats()
        self.limiter = RateLimiter(self.settings.rate_limit)
        self.origin = split_base_url(base_url)[0]  # scheme://host[:port]: whose rate limit is learnt
        self.transport = Transport(self.settings, self.limiter, self.stats, self.origin)

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
        page_obj = self._page_from(self.transport.get(location.url(path), query), resource, page)
        self.stats.add("pages", resource)
        return page_obj

    def _page_from(self, reply: Reply, resource: str, page: int) -> Page:
        attempts = reply.attempts
        where = f"resource '{resource}', page {page}"
        if reply.failure is not None:
            raise RequestFailedError(f"{where}: {reply.failure} {_after(attempts)}: {reply.detail}")
        body = reply.body
        if reply.rate_limited:
            raise RateLimitedError(
                f"{where}: the API still answered that the request rate was exceeded "
                f"(HTTP {reply.status}) {_after(attempts)}; set --rate-limit below your plan's limit"
            )
        if reply.status == 404:
            raise UnavailableError(resource, page, 404, "HTTP 404")
        error = read_error(body)
        if error is not None and error.code is not None:
            _raise_for_code(resource, page, error, attempts)
        if reply.status != 200:
            said = f": {error.message}" if error is not None and error.message else ""
            if reply.moved_to:
                said = (f": the API moved to {reply.moved_to} "
                        "(not followed: the key would go to another address); use that address as --base-url")
            elif 300 <= reply.status < 400:
                said = f": redirected more than {MAX_REDIRECTS} times on the same host"
            raise RequestFailedError(f"{where}: HTTP {reply.status} {_after(attempts)}{said}")
        if body is None:
            snippet = reply.content[:80].decode("utf-8", "replace")
            raise BadResponseError(
                f"{where}: the body is not JSON {_after(attempts)} (starts with {snippet!r})"
            )
        if error is not None:
            raise ApiError(resource, page, -1, error.message)
        try:
            listing = read_listing(body)
        except NotAListing as exc:
            raise BadResponseError(f"{where}: {exc}") from None
        return Page(page, listing.total, listing.items)


def _after(attempts: int) -> str:
    return "after 1 attempt" if attempts == 1 else f"after {attempts} attempts"


def _raise_for_code(resource: str, page: int, error: ErrorAnswer, attempts: int) -> None:
    code = error.code
    if code in AUTH_CODES:
        raise AuthError(resource, page, code, error.message)
    if code in UNAVAILABLE_CODES:
        raise UnavailableError(resource, page, code, error.message)
    raise ApiError(resource, page, code, error.message, attempts)
