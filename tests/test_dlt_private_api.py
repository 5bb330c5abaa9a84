"""The private parts of dlt that pmcrm.client builds its session from are still there and
shaped as pmcrm expects: a dlt upgrade that changes them fails here, by name, before it
fails a sync."""

import inspect

from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import _make_retry

from pmcrm.client import ApiClient, HttpSettings


def test_make_retry_takes_the_arguments_dlts_client_keeps_for_it():
    client = Client(request_max_attempts=3, raise_for_status=False)
    assert set(inspect.signature(_make_retry).parameters) == {
        "status_codes", "exceptions", "max_attempts", "condition", "backoff_factor",
        "respect_retry_after_header", "max_delay"}
    assert set(client._retry_kwargs) == set(inspect.signature(_make_retry).parameters)
    assert client._retry_kwargs["max_attempts"] == 3


def test_session_kwargs_and_the_make_session_hook_exist():
    client = Client(raise_for_status=False)
    assert isinstance(client._session_kwargs, dict) and "raise_for_status" in client._session_kwargs
    assert callable(getattr(Client, "_make_session"))


def test_pmcrms_session_retries_with_jitter_and_its_own_hook():
    settings = HttpSettings(max_attempts=4, jitter=0.5)
    session = ApiClient("http://127.0.0.1:9", "key-for-a-shape-test", settings)._client.session
    retrying = session.send.retry
    assert retrying.stop.max_attempt_number == 4
    assert retrying.before_sleep.__name__ == "_before_sleep"
