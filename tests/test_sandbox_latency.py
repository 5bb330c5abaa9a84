"""latency: every API request waits, and a waiting request never holds up another."""

from __future__ import annotations

import threading
import time

from pmcrm.sandbox.raw_client import SandboxClient
from tests.sandbox_fixtures import sandbox_api

LATENCY = 0.4
TASKS = "/v1/task/tasks/list"


api = sandbox_api(rows=20, latency=LATENCY)


def timed_get(api) -> float:
    started = time.perf_counter()
    client = SandboxClient(api.base_url, api.api_key)
    assert client.get(TASKS, page=1).status == 200
    client.close()
    return time.perf_counter() - started


def test_a_request_takes_at_least_the_latency(api):
    assert timed_get(api) >= LATENCY


def test_concurrent_requests_wait_side_by_side_not_one_after_another(api):
    durations: list[float] = []
    threads = [threading.Thread(target=lambda: durations.append(timed_get(api))) for _ in range(6)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 6
    assert time.perf_counter() - started < 3 * LATENCY, "six waits overlapped instead of adding up to 2.4 s"


def test_the_ground_truth_routes_have_no_latency(api):
    client = SandboxClient(api.base_url, api.api_key)
    started = time.perf_counter()
    assert client.get("/_sandbox/stats").status == 200
    assert time.perf_counter() - started < LATENCY
