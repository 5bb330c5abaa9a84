"""fault_rate / fault_kinds: each kind of failure happens, deterministically, and retries get through."""

from __future__ import annotations

import http.client

import pytest

from pmcrm.sandbox import FAULT_KINDS, Sandbox, SandboxOptions
from pmcrm.sandbox.faults import MAX_FAULTS_IN_A_ROW, FaultPlan
from pmcrm.sandbox.raw_client import SandboxClient

TASKS = "/v1/task/tasks/list"


def attempt(client: SandboxClient, page: int) -> str:
    """What one try at a page met: 'ok' or the fault kind, as a client sees it."""
    try:
        reply = client.get(TASKS, page=page, limit=10)
    except http.client.IncompleteRead:
        return "cut"
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return "stall"
    if reply.status in (500, 503):
        return f"http{reply.status}"
    document = reply.json()
    if "error" in document:
        assert document["error"]["error_code"] == 13
        return "envelope13"
    assert document["response"]["count"] == 10
    return "ok"


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_is_produced_and_a_retried_request_succeeds(kind):
    options = SandboxOptions(rows=40, fault_rate=1.0, fault_kinds=(kind,), stall_seconds=0.1)
    with Sandbox(options) as api:
        client = SandboxClient(api.base_url, api.api_key, timeout=5)
        outcomes = [attempt(client, page=1) for _ in range(MAX_FAULTS_IN_A_ROW + 1)]
        assert outcomes == [kind] * MAX_FAULTS_IN_A_ROW + ["ok"]
        assert api.stats()["faults"] == {kind: MAX_FAULTS_IN_A_ROW}


def test_a_cut_response_announces_the_full_length_but_sends_part_of_the_body():
    with Sandbox(SandboxOptions(rows=40, fault_rate=1.0, fault_kinds=("cut",))) as api:
        client = SandboxClient(api.base_url, api.api_key)
        with pytest.raises(http.client.IncompleteRead) as cut:
            client.get(TASKS, page=1, limit=10)
        assert 0 < len(cut.value.partial) and cut.value.expected > 0


def test_every_request_eventually_succeeds_within_three_tries_whatever_the_rate():
    options = SandboxOptions(rows=200, fault_rate=0.7, fault_kinds=("http500", "envelope13", "http503"))
    with Sandbox(options) as api:
        client = SandboxClient(api.base_url, api.api_key)
        for page in range(1, 21):
            outcomes = []
            while not outcomes or outcomes[-1] != "ok":
                outcomes.append(attempt(client, page))
            assert len(outcomes) <= MAX_FAULTS_IN_A_ROW + 1


def test_faults_are_deterministic_per_seed_and_request():
    def run(seed):
        with Sandbox(SandboxOptions(seed=seed, rows=300, fault_rate=0.4, fault_kinds=("http500", "envelope13"))) as api:
            client = SandboxClient(api.base_url, api.api_key)
            return [attempt(client, page) for page in range(1, 31) for _ in range(2)]

    first = run(seed=1)
    assert first == run(seed=1)
    assert first != run(seed=2)
    assert "ok" in first and {"http500", "envelope13"} & set(first)


def test_the_fault_plan_never_fails_one_request_more_than_twice_in_a_row():
    plan = FaultPlan(rate=1.0)
    decisions = [plan.decide("key", ("/p", 1, 100)) for _ in range(9)]
    assert [d is None for d in decisions] == [False, False, True] * 3
    assert plan.decide("other key", ("/p", 1, 100)) is not None, "attempts are counted per key"


def test_no_faults_by_default():
    plan = FaultPlan()
    assert all(plan.decide("k", ("/p", page, 100)) is None for page in range(1000))


def test_a_stall_outlasts_a_client_timeout_and_does_not_delay_stopping_the_sandbox():
    import time

    with Sandbox(SandboxOptions(rows=40, fault_rate=1.0, fault_kinds=("stall",), stall_seconds=30)) as api:
        client = SandboxClient(api.base_url, api.api_key, timeout=0.3)
        with pytest.raises(TimeoutError):
            client.get(TASKS, page=1)
        started = time.perf_counter()
    assert time.perf_counter() - started < 5
