"""Client-side request pacing: a token bucket that backs off on 429 and recovers.

Written by hand because neither requests nor dlt paces requests: dlt's retry honours
`Retry-After` for the one request that got the 429, while the other threads keep
hammering. Here all threads share one bucket, so a run against a limited API converges
to the limit instead of bouncing off it.
"""

from __future__ import annotations

import threading
import time
from collections import deque

# After a 429 the rate drops to this share of what was just being sent...
BACKOFF_FACTOR = 0.7
# ...and climbs back by this share of the ceiling per successful request.
RECOVERY_STEP = 0.01
MIN_RATE = 0.5


class RateLimiter:
    """Shared by every request thread; `acquire()` blocks until a request may go out."""

    def __init__(self, rate: float | None = None, clock=time.monotonic, sleep=time.sleep):
        self.ceiling = rate
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._recent: deque[float] = deque(maxlen=256)
        self.throttled = 0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._paused_until)
            if self.rate:
                slot = max(slot, self._next_slot)
                self._next_slot = slot + 1.0 / self.rate
            self._recent.append(slot)
        if slot > now:
            self._sleep(slot - now)

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429: pause everyone for `retry_after` and lower the pace."""
        with self._lock:
            self.throttled += 1
            now = self._clock()
            if retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
            current = self.rate or self._observed_rate(now)
            self.rate = max(MIN_RATE, current * BACKOFF_FACTOR)

    def on_success(self) -> None:
        with self._lock:
            if self.rate is None:
                return
            ceiling = self.ceiling
            step = RECOVERY_STEP * (ceiling or self.rate)
            self.rate = self.rate + step if ceiling is None else min(ceiling, self.rate + step)

    def _observed_rate(self, now: float) -> float:
        window = [t for t in self._recent if now - t <= 1.0]
        return float(max(len(window), 1))
