"""How a refusal looks (rate_limit_status, rate_limit_body, retry_after) and how requests are counted
(rate_limit_window: a token bucket, a strict sliding one-second window, a counter per clock
second, or a steady pace with no burst)."""

from __future__ import annotations

import pytest

from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.sandbox.gateway_limits import FixedWindow, SharedKey, SlidingWindow, SteadyPace, TokenBucket
from pmcrm.sandbox.raw_client import SandboxClient

TASKS = "/v1/task/tasks/list"


def burst(n: int, **knobs) -> list:
    with Sandbox(SandboxOptions(rows=3, **knobs)) as api:
        client = SandboxClient(api.base_url, api.api_key)
        return [client.get(TASKS) for _ in range(n)]


def test_the_platforms_style_is_a_plain_string_without_retry_after():
    first, refused = burst(2, rate_limit=1, rate_limit_status=503, rate_limit_body="string", retry_after=False)
    assert first.status == 200
    assert refused.status == 503
    assert refused.body == b'{"error":"Request rate per second exceeded"}'
    assert refused.headers["content-type"].startswith("application/json")
    assert "retry-after" not in refused.headers


@pytest.mark.parametrize("status", [400, 403, 503])
def test_the_refusal_status_is_configurable(status):
    assert [reply.status for reply in burst(3, rate_limit=1, rate_limit_status=status)] == [200, status, status]


def test_by_default_the_refusal_is_429_with_a_json_body_and_retry_after():
    refused = burst(2, rate_limit=1)[1]
    assert (refused.status, refused.headers["retry-after"]) == (429, "1")
    assert refused.json() == {"message": "Too Many Requests", "retry_after": 1}


def test_without_retry_after_the_json_body_is_unchanged():
    refused = burst(2, rate_limit=1, retry_after=False)[1]
    assert "retry-after" not in refused.headers
    assert refused.json() == {"message": "Too Many Requests", "retry_after": 1}


def test_a_sliding_window_passes_exactly_the_limit_in_a_burst():
    replies = burst(5, rate_limit=2, rate_limit_window="sliding")
    assert [reply.status for reply in replies] == [200, 200, 429, 429, 429]
    assert {reply.headers["retry-after"] for reply in replies[2:]} == {"1"}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answers(limiter, clock: Clock, times: list[float]) -> list[int | None]:
    """retry_after at each of ``times`` (seconds after the start): None = passed."""
    start = clock.now
    out = []
    for at in times:
        clock.now = start + at
        out.append(limiter.retry_after("key"))
    return out


def test_a_sliding_window_allows_at_most_the_limit_in_any_second():
    clock = Clock()
    window = SlidingWindow(rate=2, clock=clock)
    assert answers(window, clock, [0.0, 0.1, 0.6, 0.99, 1.0, 1.05, 1.1]) == [None, None, 1, 1, None, 1, None]


def test_a_token_bucket_refills_where_a_sliding_window_still_refuses():
    clock = Clock()
    assert answers(TokenBucket(rate=2, clock=clock), clock, [0.0, 0.1, 0.6]) == [None, None, None]
    assert answers(SlidingWindow(rate=2, clock=clock), clock, [0.0, 0.1, 0.6]) == [None, None, 1]


def test_refused_requests_do_not_count_in_the_window():
    clock = Clock()
    window = SlidingWindow(rate=1, clock=clock)
    assert answers(window, clock, [0.0, 0.3, 0.5, 0.9, 1.0, 1.5, 2.0]) == [None, 1, 1, 1, None, 1, None]


def test_retry_after_is_rounded_up_to_a_whole_second_and_at_least_one():
    clock = Clock()
    window = SlidingWindow(rate=1, clock=clock)
    assert answers(window, clock, [0.0, 0.0, 0.999999]) == [None, 1, 1]


def test_the_window_is_kept_per_key():
    window = SlidingWindow(rate=1, clock=lambda: 5.0)
    assert [window.retry_after("a"), window.retry_after("a"), window.retry_after("b")] == [None, 1, None]


def test_rate_limit_zero_means_unlimited_in_a_sliding_window_too():
    window = SlidingWindow(rate=0)
    assert all(window.retry_after("k") is None for _ in range(1000))


def test_a_fixed_window_counts_each_second_of_the_clock_on_its_own():
    clock = Clock()
    fixed = FixedWindow(rate=2, clock=clock)
    # Two pass in second 0, the third is refused; at 1.0 the count starts again, so four
    # pass within 0.2 s across the edge (a sliding window would pass two).
    assert answers(fixed, clock, [0.0, 0.9, 0.95, 1.0, 1.1, 1.2]) == [None, None, 1, None, None, 1]


def test_the_sandbox_counts_per_clock_second_when_asked():
    # Five at once: at most one edge of a second among them, so at most four pass.
    statuses = [reply.status for reply in burst(5, rate_limit=2, rate_limit_window="fixed")]
    assert statuses[0] == 200 and 1 <= statuses.count(429) <= 3


def test_a_steady_pace_refuses_two_requests_closer_than_one_interval_however_few_in_the_second():
    clock = Clock()
    steady = SteadyPace(rate=20, clock=clock)  # one request per 50 ms
    times = [0.0, 0.05, 0.099, 0.15, 0.2, 0.2]
    assert answers(steady, clock, times) == [None, None, 1, None, None, 1]
    assert SlidingWindow(rate=20, clock=clock).retry_after("key") is None, "a window of 20 would pass them all"


def test_a_steady_pace_measures_from_the_last_request_it_passed():
    clock = Clock()
    steady = SteadyPace(rate=10, clock=clock)  # one per 100 ms; refusals do not move it
    assert answers(steady, clock, [0.0, 0.05, 0.09, 0.1, 0.19, 0.2]) == [None, 1, 1, None, 1, None]


def test_the_sandbox_counts_at_a_steady_pace_when_asked():
    replies = burst(3, rate_limit=1, rate_limit_window="steady")
    assert [reply.status for reply in replies] == [200, 429, 429]


def passed_per_second(limiter, clock, rate: float, seconds: int) -> list[int]:
    """One request every 1/rate s for `seconds` s: how many passed in each second."""
    passed = [0] * seconds
    for step in range(int(rate * seconds)):
        clock.now = step / rate
        if limiter.retry_after("key") is None:
            passed[int(clock.now)] += 1
    return passed


@pytest.mark.parametrize("kind", [SlidingWindow, FixedWindow, TokenBucket, SteadyPace])
def test_a_shared_key_leaves_half_the_limit_while_the_other_client_sends(kind):
    # 10/s; another client on the key takes half from 2 s to 5 s: asked at 20/s, we pass 10
    # a second, then 5, then 10 again (a token bucket also passes its first burst).
    clock = Clock()
    shared = SharedKey(kind, 10, start=2, end=5, clock=clock)
    passed = passed_per_second(shared, clock, rate=20, seconds=8)
    assert passed[1] == 10 and passed[6:] == [10, 10], passed
    assert passed[3:5] == [5, 5], passed


def test_the_shared_key_is_a_switch_of_the_sandbox():
    with Sandbox(SandboxOptions(rows=3, rate_limit=4, rate_limit_shared="0-60")) as api:
        client = SandboxClient(api.base_url, api.api_key)
        statuses = [client.get(TASKS).status for _ in range(6)]
    assert statuses.count(200) == 2, "the other client takes half of 4 from the start"
    with pytest.raises(ValueError, match="FROM-TO"):
        SandboxOptions(rate_limit=4, rate_limit_shared="ten")
    with pytest.raises(ValueError, match="give rate_limit too"):
        SandboxOptions(rate_limit_shared="0-60")  # no limit to share: it would do nothing


def test_half_of_a_limit_of_one_is_still_a_limit():
    clock = Clock()
    shared = SharedKey(SlidingWindow, 1, start=0, end=10, clock=clock)
    assert answers(shared, clock, [0.0, 0.1, 0.2]) == [None, 1, 1]
