"""How the sandbox refuses too many requests: the counting, and the answer's style.

Counting is per API key: a token bucket (bursts of one second's worth), a strict
sliding one-second window (the default), as API gateways count, a fixed window per
clock second (a counter per key and second, as an application often counts: the
platform's "Request rate per second exceeded" may well be one), or a steady pace with no
burst at all (one request per 1/rate seconds, as nginx's `limit_req` without `burst`). Clients
report the real platform's refusal as a non-2xx answer with the body
``{"error": "Request rate per second exceeded"}``, status undocumented and no
``Retry-After``: ``rate_limit_status``, ``rate_limit_body`` and ``retry_after``
give that answer instead of the default HTTP 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

RATE_LIMIT_WINDOWS = ("bucket", "sliding", "fixed", "steady")
RATE_LIMIT_BODIES = ("json", "string")
RATE_LIMIT_MESSAGE = "Request rate per second exceeded"
Clock = Callable[[], float]


class TokenBucket:
    """A token bucket per API key: ``rate`` requests per second, bursts of one second's worth."""

    def __init__(self, rate: float, clock: Clock = time.monotonic):
        self.set_rate(rate)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def set_rate(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)

    def retry_after(self, api_key: str) -> int | None:
        """None if the request may pass, else the whole seconds to wait before retrying."""
        if self.rate <= 0:
            return None
        now = self.clock()
        tokens, last = self._buckets.get(api_key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[api_key] = (tokens - 1, now)
            return None
        self._buckets[api_key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))


class SlidingWindow:
    """At most ``rate`` passed requests per key in any one-second window; refusals do not count."""

    def __init__(self, rate: float, clock: Clock = time.monotonic):
        self.set_rate(rate)
        self.clock = clock
        self._passed: dict[str, deque[float]] = {}

    def set_rate(self, rate: float) -> None:
        self.limit = int(rate)

    def retry_after(self, api_key: str) -> int | None:
        """None if the request may pass, else the whole seconds (rounded up, at least 1)
        until the oldest request in the window leaves it."""
        if self.limit <= 0:
            return None
        now = self.clock()
        passed = self._passed.setdefault(api_key, deque())
        while passed and now - passed[0] >= 1.0:
            passed.popleft()
        if len(passed) < self.limit:
            passed.append(now)
            return None
        return max(1, math.ceil(round(passed[0] + 1.0 - now, 6)))  # round: float noise must not add a second


class FixedWindow:
    """At most ``rate`` passed requests per key in each second of the clock (12:00:01.000
    to 12:00:01.999...); refusals do not count. Unlike a sliding window, 2 x rate may pass
    within a second that spans two of the clock's. Why in the sandbox: an application that
    keeps a counter per key and second (a PHP platform's likely way) counts like this."""

    def __init__(self, rate: float, clock: Clock = time.time):
        self.set_rate(rate)
        self.clock = clock
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (second, passed in it)

    def set_rate(self, rate: float) -> None:
        self.limit = int(rate)

    def retry_after(self, api_key: str) -> int | None:
        """None if the request may pass, else 1: the next second starts within one."""
        if self.limit <= 0:
            return None
        second = math.floor(self.clock())
        counted, passed = self._counts.get(api_key, (second, 0))
        passed = passed if counted == second else 0
        if passed < self.limit:
            self._counts[api_key] = (second, passed + 1)
            return None
        return 1


class SteadyPace:
    """One passed request per ``1/rate`` seconds per key, no burst (nginx's `limit_req`
    without `burst`): a request that arrives sooner after the last one passed is refused,
    however few came in the second. Why in the sandbox: a client that spaces requests
    exactly 1/rate apart still meets refusals here, whenever the network bunches two."""

    def __init__(self, rate: float, clock: Clock = time.monotonic):
        self.set_rate(rate)
        self.clock = clock
        self._last: dict[str, float] = {}

    def set_rate(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0

    def retry_after(self, api_key: str) -> int | None:
        """None if the request may pass, else the whole seconds (rounded up, at least 1)
        until the next request may."""
        if self.interval <= 0:
            return None
        now = self.clock()
        last = self._last.get(api_key)
        if last is None or round(now - last - self.interval, 6) >= 0:  # round: float noise
            self._last[api_key] = now
            return None
        return max(1, math.ceil(round(last + self.interval - now, 6)))


class SharedKey:
    """The same limit, with another client on the same key for a while: from ``start`` to
    ``end`` seconds after the first request the gateway saw, that client takes half of it
    (the limit counted here is halved, in the configured style). Why in the sandbox: a key
    shared with another integration is common, and the other client comes and goes within
    a long sync; `--rate-limit-shared` reproduces it for any window style."""

    def __init__(self, kind: type, rate: float, start: float, end: float, clock: Clock | None = None):
        self.inner = kind(rate) if clock is None else kind(rate, clock=clock)  # the style's own clock by default
        self.rate, self.start, self.end = rate, start, end
        self._first: float | None = None

    def retry_after(self, api_key: str) -> int | None:
        now = self.inner.clock()
        if self._first is None:
            self._first = now
        shared = self.start <= now - self._first < self.end
        self.inner.set_rate(max(1.0, self.rate / 2) if shared else self.rate)  # half of 1 is not 'unlimited'
        return self.inner.retry_after(api_key)


def parse_shared(text: str) -> tuple[float, float] | None:
    """`--rate-limit-shared FROM-TO` (seconds after the first request): None for ''."""
    if not text:
        return None
    try:
        start, end = (float(part) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"rate_limit_shared must be FROM-TO in seconds, like 10-40, got {text!r}") from None
    if not 0 <= start < end:
        raise ValueError(f"rate_limit_shared must have 0 <= FROM < TO, got {text!r}")
    return start, end
