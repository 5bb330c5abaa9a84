"""Retries are bounded: a resource whose requests keep failing ends the sync with an error
that names the resource, the last status and the number of attempts, after at most
`HttpSettings.worst_case_seconds()` - which the waits pmcrm really asks for are checked
against here, for the default settings, without waiting them out."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from pmcrm.client import ApiClient
from pmcrm.errors import RequestFailedError, UnavailableError
from pmcrm.pipeline import SyncRequest, run_sync
from pmcrm.ratelimit import RateLimiter
from pmcrm.transport import FLOW_CONTROL_ATTEMPTS, HttpSettings, Reply, RequestStats, Transport
from tests.scripted_api import Answer, ScriptedApi, envelope

KEY = "bounded-retries-key-42"


def always(answer: Answer) -> ScriptedApi:
    api = ScriptedApi()
    api.fallback = answer
    return api


def record_waits(client: ApiClient) -> list[float]:
    """The backoff sleeps the transport asks for, recorded instead of slept."""
    waits: list[float] = []
    client.transport.sleep = waits.append
    return waits


@pytest.mark.parametrize(
    "answer, status",
    [(Answer(status=503, body={}), "HTTP 503"), (Answer(status=500, raw=b"<html>oops</html>"), "HTTP 500")],
    ids=["503", "500"],
)
def test_a_resource_that_keeps_failing_ends_the_sync_naming_resource_status_and_attempts(tmp_path, answer, status):
    with always(answer) as api:
        result = run_sync(SyncRequest.from_flags(
            base_url=api.base_url, api_key=KEY, resources=["tasks"], duckdb_file=str(tmp_path / "t.duckdb"),
            max_attempts=3, backoff_factor=0.01, timeout=2,
        ))
    assert not result.ok and result.exit_code == 1
    assert "resource 'tasks', page 1" in result.error
    assert status in result.error and "after 3 attempts" in result.error
    assert KEY not in result.error
    assert len(api.requests) == 3, "exactly max_attempts requests, then it stops"


@pytest.mark.parametrize("status", [403, 400])
def test_a_status_that_is_not_retried_fails_at_once_and_says_so(status):
    with always(Answer(status=status, body={})) as api:
        client = ApiClient(api.base_url, KEY, HttpSettings(max_attempts=4, backoff_factor=0.01))
        with pytest.raises(RequestFailedError, match=f"page 1: HTTP {status} after 1 attempt$"):
            client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
    assert len(api.requests) == 1


def test_404_is_never_retried_each_url_form_is_asked_once():
    with always(Answer(status=404, raw=b"<html>404 Not Found</html>")) as api:
        client = ApiClient(api.base_url, KEY, HttpSettings(max_attempts=4, backoff_factor=0.01))
        with pytest.raises(UnavailableError, match="page 1: HTTP 404"):
            client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
    assert [r["path"] for r in api.requests] == [
        "/v1/task/tasks/list", "/v1/module/task/tasks/list", "/api/v1/task/tasks/list",
        "/api/v1/module/task/tasks/list",
    ]


def test_with_the_default_settings_a_failing_request_stops_within_the_documented_worst_case():
    settings = HttpSettings()
    with always(Answer(status=503, body={})) as api:
        client = ApiClient(api.base_url, KEY, settings)
        waits = record_waits(client)
        with pytest.raises(RequestFailedError, match="after 5 attempts"):
            client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
    assert len(api.requests) == settings.max_attempts
    # Exponential backoff 1, 2, 4, 8 s, each plus up to 1 s of jitter...
    assert len(waits) == settings.max_attempts - 1
    for n, wait in enumerate(waits):
        assert settings.backoff_factor * 2**n <= wait <= settings.backoff_factor * 2**n + settings.jitter
    # ...so, with every attempt timing out, the documented bound: 219 s.
    timeouts = settings.max_attempts * (settings.connect_timeout + settings.timeout)
    assert timeouts + sum(waits) <= settings.worst_case_seconds() == 219.0


def test_a_long_retry_after_is_capped_at_max_retry_delay_for_the_request_and_for_everyone():
    settings = HttpSettings(timeout=2, max_attempts=3, max_retry_delay=0.2, jitter=0.0)
    with ScriptedApi().then(Answer(status=429, body={}, headers={"Retry-After": "86400"}),
                            Answer(envelope([{"id": 1}]))) as api:
        client = ApiClient(api.base_url, KEY, settings)
        waits = record_waits(client)
        started = time.monotonic()
        page = client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
        # The shared pacer paused every request for the capped delay, not for a day:
        # this next request gets through (a day-long pause would trip pytest's timeout).
        api.then(Answer(envelope([{"id": 2}])))
        assert client.fetch_page("tasks", "/v1/task/tasks/list", 2, 100).items == [{"id": 2}]
    assert page.items == [{"id": 1}] and 0.2 <= time.monotonic() - started < 5
    assert waits == [], "a refusal for the rate waits for the shared pacer, not for a backoff of its own"
    assert settings.worst_case_seconds(retry_after=True) == 3 * (10 + 2) + 2 * 0.2


REFUSED = Reply(status=429, headers={"Retry-After": "1"}, content=b"{}")
ANSWERED = Reply(status=200, content=b'{"response": {"total": 0, "page": 1, "count": 0, "items": []}}')


def scripted_transport(replies: list[Reply], others_get_through: bool, max_attempts: int = 2) -> Transport:
    """A transport whose answers are `replies`, in turn; while a refusal is on its way,
    another request of the run is accepted if `others_get_through` (what the shared pacer
    counts as progress). Waits are skipped."""
    transport = Transport(HttpSettings(max_attempts=max_attempts, jitter=0.0), RateLimiter(), RequestStats(),
                          "http://127.0.0.1:9", sleep=lambda seconds: None)
    answers = iter(replies)

    def once(target: str) -> Reply:
        reply = next(answers)
        if reply.status == 429 and others_get_through:
            transport.limiter.on_success()
        return replace(reply)

    transport._once = once
    return transport


def test_a_refusal_while_other_requests_get_through_does_not_use_up_an_attempt():
    # A gateway without bursts refuses two requests closer than its interval however few
    # came in the second: one request can be refused again and again while the run moves.
    transport = scripted_transport([REFUSED] * 6 + [ANSWERED], others_get_through=True)
    reply = transport.get("/v1/task/tasks/list", {"page": 1})
    assert reply.status == 200 and reply.attempts == 7


def test_an_api_that_refuses_everything_still_fails_the_request_after_max_attempts():
    transport = scripted_transport([REFUSED] * 6 + [ANSWERED], others_get_through=False)
    reply = transport.get("/v1/task/tasks/list", {"page": 1})
    assert reply.rate_limited and reply.attempts == 2


def test_refusals_while_others_get_through_end_at_flow_control_attempts():
    transport = scripted_transport([REFUSED] * (FLOW_CONTROL_ATTEMPTS + 5), others_get_through=True)
    reply = transport.get("/v1/task/tasks/list", {"page": 1})
    assert reply.rate_limited and reply.attempts == FLOW_CONTROL_ATTEMPTS


def test_a_max_attempts_above_flow_control_attempts_is_still_honoured_in_full():
    many = FLOW_CONTROL_ATTEMPTS + 5
    transport = scripted_transport([REFUSED] * (many + 5), others_get_through=False, max_attempts=many)
    reply = transport.get("/v1/task/tasks/list", {"page": 1})
    assert reply.rate_limited and reply.attempts == many
