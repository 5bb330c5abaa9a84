"""Sending one GET until it is answered for good: pooled connections, the shared pacer,
retries with backoff and jitter. `Transport.get` returns the last answer; what it means
is pmcrm.client's business.

Why by hand, and not dlt's retrying `requests` session (what pmcrm used before): the
same GET of a 143 KB page cost 1.5 ms more CPU through requests and dlt's tenacity
wrapper than through urllib3's pool directly (2.4 ms against 0.9 ms with the JSON parse,
`benchmarks/README.md`), and a sync fetches thousands of pages on a CPU that also parses
and converts them. The policy is dlt's, kept: retried are 429 and every answer that says
the rate was exceeded, 5xx, a connection refused or cut, no answer within the timeout,
and (pmcrm's own) a body that is not JSON and the error envelope's codes 10 and 13; the
wait is exponential (backoff_factor x 1, 2, 4, ... capped at max_retry_delay), or the
answer's Retry-After (capped), plus up to `jitter` seconds; at most `max_attempts`.
A refusal for the request rate waits for the shared pacer instead (pmcrm.ratelimit); the
same request refused again waits as above. A refusal while the API accepts other requests
of the run is flow control, not failure: it does not use up an attempt (up to
FLOW_CONTROL_ATTEMPTS in all). Why: a gateway that allows no burst refuses any two
requests closer than its interval, however few came in the second; a sync failed there
when one request was refused `max_attempts` times while the others went through
(benchmarks/README.md, runs E and K). An API that refuses everything still fails the
request after `max_attempts`.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit
from urllib.request import getproxies, proxy_bypass

import orjson
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from pmcrm.envelope import read_error, says_rate_limited
from pmcrm.errors import RETRYABLE_CODES, SettingsError
from pmcrm.ratelimit import RateLimiter

DEFAULT_CONCURRENCY = 16
FLOW_CONTROL_ATTEMPTS = 20  # attempts of one request at most, refusals while others get through included
# (or --max-attempts, if higher: the user's bound is never cut)
RETRY_STATUSES = frozenset(range(500, 600))
MAX_REDIRECTS = 5
# Names of the ways a request can fail without an answer, as the retry counts show them.
FAILURE_NAMES = {
    "ReadTimeoutError": "ReadTimeout",
    "ConnectTimeoutError": "ConnectTimeout",
    "NewConnectionError": "ConnectionError",
    "ProtocolError": "IncompleteBody",
    "IncompleteRead": "IncompleteBody",
    "SSLError": "SSLError",
}


@dataclass(frozen=True)
class HttpSettings:
    """How hard to try; each field is the `pmcrm sync` flag of the same name where it has
    one. `worst_case_seconds()` bounds one request that keeps failing; with the defaults:
    5 attempts of up to 10 s to connect + 30 s of silence, 1+2+4+8 s of backoff and up to
    1 s of jitter per wait = 219 s; answered with a long Retry-After that the API then
    insists on, each wait is capped at `max_retry_delay` (60 s): 444 s. Then the request
    fails and the sync with it. Not counted: time queued behind the shared rate limiter, and
    refusals while the run's other requests get through (up to FLOW_CONTROL_ATTEMPTS).
    Not bounded: a server that trickles bytes more often than every `timeout` seconds
    (the timeout is per read)."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_attempts: int = 5
    backoff_factor: float = 1.0
    max_retry_delay: float = 60.0
    jitter: float = 1.0
    # 16 requests in flight: at 50 ms per request, 8 left the run waiting on the network
    # (benchmarks/README.md, scenario 2); the shared pacer, not this, protects the API.
    concurrency: int = DEFAULT_CONCURRENCY
    rate_limit: float | None = None
    allow_http: bool = False  # a plain http:// base URL to another machine (pmcrm.urls.require_encryption)

    def check(self) -> None:
        """Values that cannot work, refused before any request (SettingsError: exit 2). Why:
        each reached deep into the read and failed there with a message about something
        else (a timeout of -1 in urllib3, a division by a rate of 0, no attempt at all)."""
        rules = (
            ("timeout", self.timeout, self.timeout > 0, "above 0 seconds"),
            ("max-attempts", self.max_attempts, self.max_attempts >= 1, "at least 1"),
            ("concurrency", self.concurrency, self.concurrency >= 1, "at least 1"),
            ("rate-limit", self.rate_limit, self.rate_limit is None or self.rate_limit > 0,
             "above 0 requests per second (leave it out for no cap)"),
        )
        problems = [f"--{flag} {value}: must be {rule}" for flag, value, ok, rule in rules if not ok]
        if problems:
            raise SettingsError("; ".join(problems))

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


# orjson reads an integer outside 64 bits as a float, silently rounding it (a 20-digit
# reference sent as a JSON number): above 2**64 - 1 (20 digits) or below -2**63 (19
# digits after a minus). A body with such a run of digits anywhere is parsed again by the
# standard library, which keeps integers exact. The check maps digits to '0', '-' to
# itself and the rest to ' ', then searches: ~0.1 ms per 150 KB page (a regex: ~4 ms).
_DIGITS_ONLY = bytes(48 if 48 <= byte <= 57 else byte if byte == 45 else 32 for byte in range(256))
_LONG_NUMBERS = (b"0" * 20, b"-" + b"0" * 19)
_UNPARSED = object()


def parse_json(content: bytes) -> Any:
    body = orjson.loads(content)
    shape = content.translate(_DIGITS_ONLY)
    if any(number in shape for number in _LONG_NUMBERS):
        body = json.loads(content)
    return body


@dataclass
class Reply:
    """The last answer to one GET: a status, headers and body, or the failure that left
    no answer (`failure`: its name, `detail`: its text). `attempts` made in all."""

    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""
    failure: str | None = None
    detail: str = ""
    attempts: int = 1
    moved_to: str | None = None  # a redirect to another origin, not followed (no query: the key)
    _body: Any = field(default=_UNPARSED, repr=False)

    @property
    def body(self) -> Any:
        """The JSON body, parsed once (None if it is not JSON)."""
        if self._body is _UNPARSED:
            try:
                self._body = parse_json(self.content) if self.content else None
            except (orjson.JSONDecodeError, ValueError):
                self._body = None
        return self._body

    @property
    def rate_limited(self) -> bool:
        return self.failure is None and says_rate_limited(self.status, self.body)

    def retry_reason(self) -> str | None:
        """Why this answer deserves another attempt, or None."""
        if self.failure is not None:
            return self.failure
        if self.rate_limited:
            return "http 429" if self.status == 429 else f"rate limit (http {self.status})"
        if self.status in RETRY_STATUSES:
            return f"http {self.status}"
        if self.status != 200:
            return None
        if self.body is None:
            return "broken body"
        error = read_error(self.body)
        if error is not None and error.code in RETRYABLE_CODES:
            return f"error {error.code}"
        return None

    def retry_after(self, cap: float) -> float | None:
        """Retry-After in seconds (or an HTTP date), capped: one 'Retry-After: 86400' must
        not stop a sync for a day."""
        value = (self.headers.get("Retry-After") or "").strip()
        if value.isdigit():
            return min(float(value), cap)
        if value:
            from email.utils import parsedate_to_datetime

            try:
                return min(max(0.0, parsedate_to_datetime(value).timestamp() - time.time()), cap)
            except (TypeError, ValueError):
                return None
        return None


class Transport:
    """GETs through one pool of keep-alive connections, paced and retried (module docstring)."""

    def __init__(self, settings: HttpSettings, limiter: RateLimiter, stats: RequestStats, origin: str,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings, self.limiter, self.stats = settings, limiter, stats
        self.sleep = sleep  # tests record the waits instead of sleeping them
        self._random = random.Random()
        self._manager = _pool_for(origin, settings)
        # The origin's own connection pool, asked with the path alone. Why: the manager
        # parses every URL and looks its pool up again: ~0.3 ms of CPU a page, against
        # ~1.1 ms for a bare http.client GET + orjson parse of a 100-row page (1,000 GETs
        # in a loop). Not through a proxy: a proxy takes the whole URL.
        self._origin = origin.rstrip("/")
        self._direct = None if isinstance(self._manager, urllib3.ProxyManager) \
            else self._manager.connection_from_url(self._origin)

    def get(self, url: str, query: Mapping[str, Any]) -> Reply:
        target = f"{url}?{urlencode(query)}"
        settings = self.settings
        refusals = counted = attempt = 0
        accepted = self.limiter.accepted
        while True:
            attempt += 1
            reply = self._once(target)
            reply.attempts = attempt
            reason = reply.retry_reason()
            accepted_now = self.limiter.accepted
            others_got_through, accepted = accepted_now > accepted, accepted_now
            if not (reply.rate_limited and others_got_through):
                counted += 1  # a refusal while others got through is flow control (module docstring)
            if reason is None or counted >= settings.max_attempts \
                    or attempt >= max(FLOW_CONTROL_ATTEMPTS, settings.max_attempts):
                return reply
            self.stats.add("retries", reason)
            if reply.rate_limited:
                refusals += 1
                if refusals == 1:
                    # The shared pacer learns from it and plans every request's next departure.
                    continue
                # Refused again: the pacer's count of the API's window is off for now
                # (requests bunched on their way to it). Sent again at once, one request was
                # refused 5 times in a row and failed a sync under load: it waits as told.
            wait = reply.retry_after(settings.max_retry_delay) if reply.failure is None else None
            if wait is None:
                wait = min(settings.backoff_factor * 2 ** max(counted - 1, 0), settings.max_retry_delay)
            self.sleep(wait + self._random.uniform(0, settings.jitter))

    def _once(self, target: str) -> Reply:
        left = self.limiter.acquire()
        self.stats.add("requests")
        try:
            response, elsewhere = self._send(target)
        except Urllib3Error as exc:
            cause = exc.reason if isinstance(getattr(exc, "reason", None), Exception) else exc
            name = type(cause).__name__
            return Reply(failure=FAILURE_NAMES.get(name, name), detail=str(cause))
        reply = Reply(status=response.status, headers=response.headers, content=response.data or b"",
                      moved_to=elsewhere)
        if reply.rate_limited:
            self.limiter.on_throttled(reply.retry_after(self.settings.max_retry_delay), left)
        else:
            self.limiter.on_success(left)
        return reply

    def _send(self, target: str) -> tuple[urllib3.BaseHTTPResponse, str | None]:
        """The answer to GET `target`, after redirects within the origin (at most
        MAX_REDIRECTS), and where a redirect elsewhere pointed, without its query (else
        None). That one is not followed: the key travels in the query, and only the user
        may send it to another host (pmcrm.client says where)."""
        within = self._origin + "/"
        for _ in range(MAX_REDIRECTS + 1):
            if self._direct is not None and target.startswith(within):
                response = self._direct.urlopen("GET", target[len(self._origin):], preload_content=True,
                                                redirect=False, retries=False)
            else:
                response = self._manager.request("GET", target, preload_content=True, redirect=False, retries=False)
            location = response.get_redirect_location()
            moved = urljoin(target, location) if location else None
            if moved is None:
                return response, None
            if not moved.startswith(within):
                return response, urlsplit(moved)._replace(query="", fragment="").geturl()
            target = moved
        return response, None  # still redirected within the origin: a loop


def _pool_for(origin: str, settings: HttpSettings) -> urllib3.PoolManager:
    """A pool manager for `origin`, through the proxy the environment names for it (as
    requests did: HTTP(S)_PROXY / NO_PROXY), verifying TLS against REQUESTS_CA_BUNDLE or
    SSL_CERT_FILE if set, else certifi's bundle."""
    timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.timeout)
    size = max(settings.concurrency, 1) * 2
    scheme, _, host = origin.partition("://")
    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    if ca is None:
        try:
            import certifi

            ca = certifi.where()
        except ImportError:
            ca = None
    options: dict[str, Any] = {"timeout": timeout, "maxsize": size, "block": False, "retries": False}
    if scheme == "https" and ca:
        options["ca_certs"] = ca
    proxy = getproxies().get(scheme)
    if proxy and not proxy_bypass(host.split(":")[0]):
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)
