"""Client-side pacing: a configured rate is never exceeded; a 429 pauses every request for
Retry-After and slows the pace to what the API sustains; the pace recovers afterwards.

A fake clock drives the limiter; `ServerBucket` is the token bucket of an API that
allows `rate` requests per second with one second's worth of burst (as the sandbox's).
"""

from __future__ import annotations

import math

import pytest

from pmcrm.ratelimit import BACKOFF, MARGIN, RateLimiter, slowest_bucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.on_sleep = None  # called with the clock before the time passes (to inject a 429)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            hook, self.on_sleep = self.on_sleep, None
            hook()
        self.now += seconds


class ServerBucket:
    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.then = rate, rate, None

    def allows(self, at: float) -> bool:
        self.then = at if self.then is None else self.then
        self.tokens = min(self.rate, self.tokens + (at - self.then) * self.rate)
        self.then = at
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def limiter(rate=None) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rate, clock=clock, sleep=clock.sleep), clock


def run_against(server: ServerBucket, limit: RateLimiter, clock: FakeClock, requests: int,
                in_flight: float = 0.05 / 8) -> int:
    """Send `requests` requests (8 in flight at 50 ms: one leaves every 6.25 ms at most);
    returns how many got a 429. A refused request is retried, like dlt's retry does."""
    refused = 0
    for _ in range(requests):
        while True:
            left = limit.acquire()
            clock.now = max(clock.now, left) + in_flight
            if server.allows(left):
                limit.on_success(left)
                break
            refused += 1
            limit.on_throttled(retry_after=math.ceil(1 / server.rate), left=left)
    return refused


def test_a_configured_rate_is_never_exceeded_in_any_second():
    limit, _ = limiter(10)
    left = [limit.acquire() for _ in range(200)]
    assert all(b - a >= 0.1 - 1e-9 for a, b in zip(left, left[1:])), "no burst: evenly paced"
    assert max(sum(1 for t in left if start <= t < start + 1) for start in left) <= 10


def test_without_a_rate_nothing_waits():
    limit, clock = limiter()
    assert [limit.acquire() for _ in range(100)] == [0.0] * 100 and clock.now == 0.0


def test_a_429_pauses_every_request_for_retry_after():
    limit, clock = limiter()
    left = limit.acquire()
    clock.now = 0.3
    limit.on_throttled(retry_after=2, left=left)
    assert limit.acquire() >= 2.3
    assert limit.throttled == 1


def test_the_429s_of_requests_in_flight_together_cut_the_pace_once():
    limit, clock = limiter(20)
    left = [limit.acquire() for _ in range(8)]
    clock.now = left[-1] + 0.05
    for moment in left[3:]:
        limit.on_throttled(retry_after=1, left=moment)
    assert limit.throttled == 5
    assert limit.rate == pytest.approx(20 * BACKOFF), "cut once, not five times"


def test_a_turn_granted_before_a_429_waits_behind_the_pause():
    limit, clock = limiter(2)
    first = limit.acquire()
    clock.on_sleep = lambda: limit.on_throttled(retry_after=3, left=first)  # arrives while the next waits
    second = limit.acquire()
    assert second >= first + 3, "it did not leave during the pause"


def test_against_a_limited_api_the_pace_converges_below_the_limit_with_few_429s():
    limit, clock = limiter()  # the limit is not given: found from the 429s
    server = ServerBucket(20)
    refused = run_against(server, limit, clock, 1000)
    assert refused <= 20, f"{refused} requests refused of 1000"
    assert 20 * MARGIN * 0.9 <= limit.rate <= 20 * 1.05
    requests_per_second = 1000 / clock.now
    assert requests_per_second >= 20 * 0.85, f"{requests_per_second:.1f} requests/s against a limit of 20"


def test_a_configured_rate_at_the_api_limit_gets_no_429():
    limit, clock = limiter(20)
    assert run_against(ServerBucket(20), limit, clock, 500) == 0


def test_after_a_cut_the_pace_recovers_up_to_the_configured_rate_and_no_further():
    limit, clock = limiter(10)
    left = limit.acquire()
    limit.on_throttled(retry_after=1, left=left)
    assert limit.rate < 10
    for _ in range(2000):
        limit.on_success(limit.acquire())
    assert limit.rate == 10


def test_the_slowest_bucket_that_explains_what_was_served_is_its_rate():
    start = 5.0
    served = [start + i / 40 for i in range(60)]  # 60 requests in 1.5 s, all let through
    # A bucket of r per second holding r tokens serves r + 1.5 r = 60 by then: r = 24.
    assert slowest_bucket(served, start) == pytest.approx(24, rel=0.02)


# --------------------------------------------------------------- against the sandbox
@pytest.fixture(scope="module")
def limited_api():
    from pmcrm.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(seed=5, rows=0, rows_per_resource={"tasks": 1500}, rate_limit=10)) as api:
        yield api


def sync_tasks(api, tmp_path, **source_options):
    from pmcrm.pipeline import make_pipeline, run_sync
    from tests.helpers import sync_request

    api.reset_stats()
    request = sync_request(api, tmp_path, resources=["tasks"], **source_options)
    result = run_sync(request)
    assert result.ok, result.error
    return result, make_pipeline(request), api.stats()


def test_told_the_api_limit_a_sync_gets_no_429(limited_api, tmp_path):
    from tests.truth import assert_table_equals_truth

    result, pipeline, served = sync_tasks(limited_api, tmp_path, rate_limit=10)
    assert_table_equals_truth(pipeline, "tasks", limited_api.truth("tasks"))
    assert served["rate_limited"] == 0 and served["requests"] == result.stats.requests


def test_not_told_the_limit_a_sync_backs_off_after_the_first_burst(limited_api, tmp_path):
    from tests.truth import assert_table_equals_truth

    result, pipeline, served = sync_tasks(limited_api, tmp_path)
    assert_table_equals_truth(pipeline, "tasks", limited_api.truth("tasks"))
    # Only requests in flight when the limit was first hit (at most `concurrency`) and,
    # at worst, one later probe's are refused; each is retried after Retry-After.
    assert served["rate_limited"] <= 2 * 8
    assert result.stats.retries["http 429"] == served["rate_limited"]
