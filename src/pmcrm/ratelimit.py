"""Client-side request pacing shared by every request thread: at most `rate` requests per
second, and on HTTP 429 a pause for `Retry-After` plus a pace the API can sustain.

Written by hand because neither requests nor dlt paces requests: dlt's retry honours
`Retry-After` for the one request that got the 429, while the other threads keep
hammering. Here all threads share one pacer, so a run against a limited API converges
to the limit instead of bouncing off it.

- A configured rate (`--rate-limit`) is never exceeded: requests leave at least 1/rate
  seconds apart (no bursts), so no one-second window holds more than `rate` of them.
- On a 429 every thread waits out `Retry-After`. A request whose turn came before that
  429 but had not left yet queues again behind the pause.
- The pace then drops to MARGIN times the rate the API sustains, estimated as the
  slowest token bucket that would have let through every request it did let through
  since the first request (or the last pause): a bucket of "N per second", holding
  about one second's worth (BURST), full at the start. The estimate is made once the
  pause is over, when every request of the episode has answered; until then the pace
  is halved.
- All 429s of requests that left before a cut are one episode: only the first cuts.
- Without a 429 the pace rises again (up to the configured rate, if any): by PROBE
  every PROBE_EVERY seconds while the estimate is rough (measured over less than
  CONFIDENT seconds, e.g. the first burst), by SETTLED every SETTLED_EVERY seconds once
  it is good - close to a known limit, probing only notices the limit being raised.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

MARGIN = 0.95
BURST = 1.0
BACKOFF = 0.5  # the pace until the episode's estimate is made
CONFIDENT = 3.0
PROBE, PROBE_EVERY = 0.10, 2.0
SETTLED, SETTLED_EVERY = 0.02, 10.0
MIN_RATE = 0.5
MIN_EVIDENCE = 4  # successful requests an estimate needs; fewer: the halved pace stays


class RateLimiter:
    """`acquire()` blocks until a request may leave and returns when it leaves;
    `on_success(left)` / `on_throttled(retry_after, left)` report how it went.
    `rate` is the current pace in requests per second (None: unpaced)."""

    def __init__(self, rate: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.ceiling = rate
        self.rate = rate
        self.throttled = 0
        self.clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")
        self._cut_at = float("-inf")  # when the last episode began
        self._quiet_since = clock()
        self._measure_from: float | None = None  # first request, then each pause's end
        self._measure_to = float("inf")  # the first 429 of the episode being measured
        self._served: list[float] = []  # when the successes in [_measure_from, _measure_to) left
        self._estimate_at: float | None = None  # when the episode's estimate is due
        self._settled = False  # the last estimate was measured over CONFIDENT seconds

    def acquire(self) -> float:
        """Wait for this request's turn; returns when it leaves."""
        while True:
            with self._lock:
                now = self.clock()
                if self._estimate_at is not None and now >= self._estimate_at:
                    self._estimate()
                slot = max(now, self._paused_until)
                if self.rate:
                    slot = max(slot, self._next_slot)
                    # The slack keeps float sums of 1/rate from landing a hair early.
                    self._next_slot = slot + (1.0 + 1e-9) / self.rate
                cut_at = self._cut_at
            if slot > now:
                self._sleep(slot - now)
            with self._lock:
                if self._cut_at == cut_at:  # no 429 arrived while it waited
                    if self._measure_from is None:
                        self._measure_from = slot
                    return slot

    def on_success(self, left: float | None = None) -> None:
        """A response that was not a 429, for a request that left at `left`."""
        with self._lock:
            now = self.clock()
            if left is not None and self._measure_from is not None and self._measure_from <= left < self._measure_to:
                self._served.append(left)
            step, every = (SETTLED, SETTLED_EVERY) if self._settled else (PROBE, PROBE_EVERY)
            if self.rate is not None and now - self._quiet_since >= every:
                self._quiet_since = now
                raised = self.rate * (1 + step)
                self.rate = raised if self.ceiling is None else min(self.ceiling, raised)

    def on_throttled(self, retry_after: float | None = None, left: float | None = None) -> None:
        """A 429 for a request that left at `left` (see the module docstring)."""
        with self._lock:
            self.throttled += 1
            now = self.clock()
            self._quiet_since = now
            if retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
            if left is not None and left < self._cut_at:
                return  # it left before the last cut: the same episode
            self._cut_at = now
            self._measure_to = left if left is not None else now
            self.rate = max(MIN_RATE, (self.rate or self._sent_rate(now)) * BACKOFF)
            self._estimate_at = max(now, self._paused_until)
            # Turns handed out at the old pace start over at the new one.
            self._next_slot = min(self._next_slot, self._estimate_at)

    def _sent_rate(self, now: float) -> float:
        """Unpaced so far: what was let through since the first request."""
        elapsed = max(now - (self._measure_from or now), 1.0)
        return max(len(self._served) / elapsed, MIN_RATE)

    def _estimate(self) -> None:
        """The pause is over and the episode's requests have answered: pace at what the
        API sustained, then measure the next stretch from now."""
        now = self.clock()
        if len(self._served) >= MIN_EVIDENCE:
            served = sorted(self._served)
            ceiling = self.ceiling if self.ceiling is not None else float("inf")
            self.rate = max(MIN_RATE, min(ceiling, slowest_bucket(served, self._measure_from) * MARGIN))
            self._settled = served[-1] - self._measure_from >= CONFIDENT
            self._quiet_since = now
        self._estimate_at = None
        self._measure_from, self._measure_to = now, float("inf")
        self._served = []


def slowest_bucket(served: list[float], start: float) -> float:
    """The lowest rate of a token bucket holding BURST seconds of it, full at `start`,
    that lets a request through at every time in `served` (sorted). Bisection: a
    faster bucket lets through everything a slower one does."""

    def lets_through(rate: float) -> bool:
        capacity = rate * BURST
        tokens, then = capacity, start
        for moment in served:
            tokens = min(capacity, tokens + (moment - then) * rate)
            then = moment
            if tokens < 1 - 1e-9:
                return False
            tokens -= 1
        return True

    low, high = MIN_RATE, max(MIN_RATE, float(len(served)))
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if lets_through(middle) else (middle, high)
    return high
