"""A discrete-event simulation of a sync's requests against a rate-limited gateway, for the
rate limiter's tests: `workers` requests in flight at most, each answered `latency`
seconds after it left; a refused request is sent again, as dlt's retry does. No threads,
no sleeping: the limiter's clock is the simulation's."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from pmcrm.ratelimit import RateLimiter
from pmcrm.sandbox.gateway_limits import FixedWindow, SharedKey, SlidingWindow, SteadyPace


class Gateway:
    """The sandbox's own gateway limiter (pmcrm.sandbox.gateway_limits) on the simulation's
    time: what is refused, and the Retry-After, exactly as the sandbox answers them.
    `limit` None: no limit."""

    kind: type = SlidingWindow

    def __init__(self, limit: int | None):
        self.limit, self._now, self._wait = limit, 0.0, None
        self._limiter = self.kind(limit or 0, clock=lambda: self._now)

    def accepts(self, at: float) -> bool:
        self._now = at
        self._wait = self._limiter.retry_after("key")
        return self._wait is None

    def retry_after(self, at: float) -> int:
        """The Retry-After of the refusal `accepts(at)` just gave."""
        return self._wait


class SlidingWindowGateway(Gateway):
    """At most `limit` accepted requests in any one-second window; refusals are not
    counted; Retry-After is the wait rounded up to whole seconds."""

    kind = SlidingWindow

    def most_in_one_window(self, history: list[float]) -> int:
        return max((sum(1 for t in history if start <= t < start + 1.0) for start in history), default=0)


class FixedWindowGateway(Gateway):
    """At most `limit` accepted requests in each whole second of the simulation's clock."""

    kind = FixedWindow


def shared_key_gateway(start: float, end: float) -> type:
    """A sliding window whose key another client shares from `start` to `end` seconds after
    the first request, taking half the limit: the sandbox's `--rate-limit-shared`."""

    class SharedKeyGateway(SlidingWindowGateway):
        kind = staticmethod(lambda rate, clock: SharedKey(SlidingWindow, rate, start, end, clock=clock))

    return SharedKeyGateway


class SteadyGateway(Gateway):
    """No burst at all (nginx's limit_req without burst): a request that arrives sooner
    than 1/limit seconds after the last one accepted is refused, however few came in the
    second."""

    kind = SteadyPace


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Outcome:
    seconds: float
    refused: int
    accepted_at: list[float]
    limiter: RateLimiter
    learnt: list[tuple[int, float]]  # (refusals so far, limit) at each limit learnt


def simulate(limit: int | None, requests: int, workers: int = 16, latency: float = 0.05,
             told: float | None = None, retry_after: bool = True, jitter: float | Callable[[float], float] = 0.01,
             seed: int = 1, remembered: float | None = None,
             gateway_kind: type = SlidingWindowGateway) -> Outcome:
    """`requests` requests against a gateway allowing `limit` per second (`gateway_kind`: a
    sliding window, or SteadyGateway); `told` is the limit given to the client
    (--rate-limit), `remembered` one an earlier run learnt (pmcrm.remembered_limit); latency
    varies by up to `jitter` seconds (or `jitter(t)` at time t).
    A worker waiting for its turn is woken by news (the limiter's epoch), as the real
    `acquire` is by its condition, and plans again."""
    noise, clock = random.Random(seed), Clock()
    limiter = RateLimiter(told, clock=clock, sleep=lambda seconds: None)
    learnt: list[tuple[int, float]] = []
    limiter.on_limit = lambda limit: learnt.append((limiter.throttled, limit))
    if remembered is not None:
        limiter.remember(remembered, "2026-12-01")
    gateway = gateway_kind(limit)
    events: list = []
    order = 0
    waiting: dict[int, tuple[int, float]] = {}  # worker -> (its plan's number, departure)

    def at(moment: float, worker: int, kind: str, payload=None) -> None:
        nonlocal order
        heapq.heappush(events, (moment, order, worker, kind, payload))
        order += 1

    def plan(worker: int, now: float) -> None:
        departure = limiter._reserve(now)  # acquire() without its wait: the simulation moves the time
        waiting[worker] = (order, departure)
        at(departure, worker, "leave", order)

    left_to_send, retrying, refused, accepted_at = requests, set(), 0, []
    for worker in range(workers):
        at(0.0, worker, "ready")
    while events:
        moment, _, worker, kind, payload = heapq.heappop(events)
        clock.now = moment
        if kind == "ready":
            if worker not in retrying:
                if left_to_send == 0:
                    continue
                left_to_send -= 1
            retrying.discard(worker)
            plan(worker, moment)
        elif kind == "leave":
            if waiting.get(worker, (None,))[0] != payload:
                continue  # planned again since
            _, left = waiting.pop(worker)
            took = latency + noise.random() * (jitter(moment) if callable(jitter) else jitter)
            arrival = moment + took / 2
            accepted = gateway.accepts(arrival)
            at(moment + took, worker, "answer", (left, accepted, None if accepted else gateway.retry_after(arrival)))
        else:
            left, accepted, wait = payload
            epoch = limiter._epoch
            if accepted:
                accepted_at.append(left)
                limiter.on_success(left)
            else:
                refused += 1
                limiter.on_throttled(wait if retry_after else None, left)
                retrying.add(worker)
            if limiter._epoch != epoch:  # news: every waiting worker plans again
                for other, (_, departure) in list(waiting.items()):
                    limiter._forget(departure)
                    plan(other, moment)
            at(moment, worker, "ready")
    return Outcome(clock.now, refused, accepted_at, limiter, learnt)
