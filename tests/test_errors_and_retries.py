"""The error envelope, broken bodies and transient failures: retried, stopped or reported,
each with a message that names the resource and never shows the key."""

import time

import pytest

from pmcrm.client import ApiClient
from pmcrm.errors import (
    ApiError,
    AuthError,
    BadResponseError,
    RequestFailedError,
    UnavailableError,
)
from pmcrm.transport import HttpSettings
from tests.scripted_api import Answer, ScriptedApi, envelope, error

KEY = "scripted-secret-key-123"
FAST = HttpSettings(timeout=0.5, connect_timeout=0.5, max_attempts=4, backoff_factor=0.01, jitter=0.0)
ROWS = [{"id": 1}, {"id": 2}]


def fetch(api, settings=FAST):
    client = ApiClient(api.base_url, KEY, settings)
    return client, client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)


def assert_fails(api, exc_type, *fragments, settings=FAST):
    client = ApiClient(api.base_url, KEY, settings)
    with pytest.raises(exc_type) as caught:
        client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
    message = str(caught.value)
    assert "resource 'tasks'" in message and KEY not in message
    for fragment in fragments:
        assert fragment in message
    return caught.value, client


def test_the_key_page_and_limit_travel_in_the_query():
    with ScriptedApi().then(Answer(envelope(ROWS))) as api:
        fetch(api)
    assert api.requests == [{"path": "/v1/task/tasks/list", "api_key": KEY, "page": "1", "limit": "100"}]


def test_a_redirect_on_the_same_host_is_followed_with_the_query():
    moved = Answer(status=301, body={}, headers={"Location": "/v2/task/tasks/list?api_key=" + KEY + "&page=1"})
    with ScriptedApi().then(moved, Answer(envelope(ROWS))) as api:
        _, page = fetch(api)
    assert page.items == ROWS
    assert [request["path"] for request in api.requests] == ["/v1/task/tasks/list", "/v2/task/tasks/list"]


def test_a_redirect_to_another_host_is_not_followed_and_named_without_the_key():
    moved = Answer(status=301, body={}, headers={"Location": "https://elsewhere.example/api/v1/module/task/tasks/list?api_key=" + KEY})
    with ScriptedApi().then(moved) as api:
        assert_fails(api, RequestFailedError, "HTTP 301", "moved to https://elsewhere.example/api/v1/module/task/tasks/list ")
    assert len(api.requests) == 1


def test_redirects_in_a_loop_on_the_same_host_stop_and_do_not_claim_the_api_moved_elsewhere():
    loop = Answer(status=302, body={}, headers={"Location": "/v1/task/tasks/list?api_key=" + KEY + "&page=1"})
    with ScriptedApi().then(*[loop] * 8) as api:
        exc, _ = assert_fails(api, RequestFailedError, "HTTP 302", "redirected more than 5 times")
    assert "moved to" not in str(exc) and len(api.requests) == 6


def test_a_refused_key_stops_at_once_and_says_to_check_the_key():
    with ScriptedApi().then(Answer(error(11, "nope"))) as api:
        exc, _ = assert_fails(api, AuthError, "API error 11", "Check the API key")
    assert exc.exit_code == 2 and len(api.requests) == 1


@pytest.mark.parametrize("code, reason", [(22, "no access"), (30, "not available to this key"),
                                          (31, "module not enabled")])
def test_a_resource_the_key_cannot_read_is_unavailable_with_its_reason(code, reason):
    with ScriptedApi().then(Answer(error(code, "nope"))) as api:
        client = ApiClient(f"{api.base_url}/api/v1/module", KEY, FAST)  # one URL form: one request
        with pytest.raises(UnavailableError) as caught:
            client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
    assert caught.value.code == code and caught.value.reason.startswith(reason)
    assert caught.value.exit_code == 1 and len(api.requests) == 1


@pytest.mark.parametrize("code", [10, 13])
def test_unknown_and_internal_errors_are_retried_like_a_5xx(code):
    with ScriptedApi().then(Answer(error(code)), Answer(error(code)), Answer(envelope(ROWS))) as api:
        client, page = fetch(api)
    assert page.items == ROWS and len(api.requests) == 3
    assert client.stats.retries == {f"error {code}": 2}


@pytest.mark.parametrize("code", [12, 20, 21, 99])
def test_other_error_codes_fail_with_code_message_and_resource(code):
    with ScriptedApi().then(Answer(error(code, "the reason"))) as api:
        exc, _ = assert_fails(api, ApiError, f"API error {code}", "the reason")
    assert exc.code == code and len(api.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        Answer(status=500, body={}),
        Answer(status=503, body={}),
        Answer(status=429, body={}, headers={"Retry-After": "1"}),
        Answer(raw=b"<html>Bad gateway</html>"),
        Answer(body=envelope(ROWS * 500), cut=True),
        Answer(body=envelope(ROWS), stall=1.0),
    ],
    ids=["500", "503", "429", "html page with 200", "connection cut mid-body", "stall past timeout"],
)
def test_transient_failures_are_retried_until_the_page_arrives(answer):
    with ScriptedApi().then(answer, Answer(envelope(ROWS))) as api:
        client, page = fetch(api)
    assert page.items == ROWS
    assert client.stats.total_retries == 1 and client.stats.requests == 2


def test_retry_after_is_honoured():
    with ScriptedApi().then(Answer(status=429, body={}, headers={"Retry-After": "1"}), Answer(envelope(ROWS))) as api:
        started = time.monotonic()
        fetch(api)
    assert time.monotonic() - started >= 1.0


def test_a_request_refused_again_for_the_rate_waits_its_retry_after_before_the_next_attempt():
    refused = Answer(status=429, body={}, headers={"Retry-After": "1"})
    with ScriptedApi().then(refused, refused, Answer(envelope(ROWS))) as api:
        client = ApiClient(api.base_url, KEY, FAST)
        waits: list[float] = []
        client.transport.sleep = waits.append
        page = client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
    assert page.items == ROWS
    assert waits == [1.0], "the first refusal is the pacer's to plan; the second waits as the API says"


def test_retries_are_bounded_and_the_error_names_status_and_attempts():
    api = ScriptedApi()
    api.fallback = Answer(status=503, body={})
    with api:
        assert_fails(api, RequestFailedError, "HTTP 503", "after 4 attempts")
    assert len(api.requests) == 4


def test_a_body_that_stays_broken_fails_clearly():
    api = ScriptedApi()
    api.fallback = Answer(raw=b"<html>maintenance</html>")
    with api:
        assert_fails(api, BadResponseError, "not JSON", "<html>maintenance")


@pytest.mark.parametrize(
    "body", [{"response": {"total": 1}}, {"response": {"items": {"id": 1}}}, {"data": []}, [1, 2]],
    ids=["no items", "items not a list", "neither response nor error", "a list"],
)
def test_a_body_without_items_or_error_fails_clearly(body):
    with ScriptedApi().then(Answer(body)) as api:
        assert_fails(api, BadResponseError, "neither 'response.items'")


def test_a_network_failure_names_the_resource_and_hides_the_key():
    client = ApiClient("http://127.0.0.1:9", KEY, FAST)  # nothing listens on port 9
    with pytest.raises(RequestFailedError) as caught:
        client.fetch_page("tasks", "/v1/task/tasks/list", 1, 100)
    assert "resource 'tasks'" in str(caught.value) and KEY not in str(caught.value)
    assert caught.value.__context__ is None and caught.value.__cause__ is None
