"""rate_limit: above N requests per second per key the API answers HTTP 429 with Retry-After."""

from __future__ import annotations

import time

from pmcrm.sandbox import SandboxOptions
from pmcrm.sandbox.app import SandboxApp
from pmcrm.sandbox.data import Dataset
from pmcrm.sandbox.gateway_limits import TokenBucket
from pmcrm.sandbox.raw_client import SandboxClient
from pmcrm.sandbox.stats import Stats
from tests.sandbox_fixtures import sandbox_api

TASKS = "/v1/task/tasks/list"


api = sandbox_api(rows=20, rate_limit=2)


def test_a_burst_above_the_limit_gets_429_with_retry_after_in_whole_seconds(api):
    client = SandboxClient(api.base_url, api.api_key)
    api.reset_stats()
    replies = [client.get(TASKS, page=1) for _ in range(10)]
    statuses = [reply.status for reply in replies]
    assert statuses[:2] == [200, 200], "a burst of one second's worth passes"
    limited = [reply for reply in replies if reply.status == 429]
    assert limited, statuses
    for reply in limited:
        assert reply.headers["retry-after"].isdigit() and int(reply.headers["retry-after"]) >= 1
        reply.json()  # the body is JSON
    assert api.stats()["rate_limited"] == len(limited)


def test_a_wrong_key_is_refused_with_error_11_not_429(api):
    client = SandboxClient(api.base_url, "wrong")
    replies = [client.get(TASKS, page=1) for _ in range(10)]
    assert {reply.status for reply in replies} == {200}
    assert all(reply.json()["error"]["error_code"] == 11 for reply in replies)


def test_waiting_retry_after_lets_the_request_through(api):
    client = SandboxClient(api.base_url, api.api_key)
    reply = client.get(TASKS, page=1)
    while reply.status == 429:
        time.sleep(int(reply.headers["retry-after"]))
        reply = client.get(TASKS, page=1)
    assert reply.status == 200 and "response" in reply.json()


def test_the_limit_is_counted_per_key():
    limiter = TokenBucket(rate=1, clock=lambda: 100.0)
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") == 1
    assert limiter.retry_after("b") is None, "another key has its own bucket"


def test_tokens_come_back_at_the_configured_rate():
    now = [0.0]
    limiter = TokenBucket(rate=0.5, clock=lambda: now[0])
    assert limiter.retry_after("k") is None
    assert limiter.retry_after("k") == 2, "half a request per second: wait two seconds"
    now[0] = 2.0
    assert limiter.retry_after("k") is None


def test_rate_limit_zero_means_unlimited():
    limiter = TokenBucket(rate=0)
    assert all(limiter.retry_after("k") is None for _ in range(1000))


def test_with_a_rate_limit_every_table_is_generated_before_the_first_request():
    # The gateway counts in the event loop that generates data: a table generated on its
    # first request (0.25 s at 2,000 rows) held back requests that were then counted
    # together, and a client paced exactly to the limit was refused.
    for rate_limit, generated in ((5, True), (0, False)):
        dataset = Dataset(seed=1, rows=20)
        SandboxApp(SandboxOptions(rows=20, rate_limit=rate_limit), dataset, Stats())
        assert bool(dataset._tables) is generated
        if generated:
            assert set(dataset._tables) == set(dataset.catalog.paths)
