"""The key travels in every request's query, so it never crosses the network in clear and
never follows a redirect elsewhere: a plain http:// base URL to another machine is
refused before any request (exit 2, one line that says the https form to use), unless
the user says the network is trusted (--allow-http) - this machine, the sandbox or an SSH
tunnel, is exempt; and an API that moved to another address (the sandbox's --moved-to)
is named, not followed."""

from __future__ import annotations

import socket

import pytest
import urllib3

from pmcrm.client import ApiClient
from pmcrm.errors import SettingsError
from pmcrm.pipeline import run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.transport import HttpSettings
from pmcrm.urls import require_encryption
from tests.helpers import invoke, sync_request

KEY = "secret-key-of-the-test"


@pytest.mark.parametrize("command", ["sync", "check"])
def test_a_plain_http_url_to_another_machine_is_refused_in_one_line_naming_the_https_form(command):
    result = invoke(command, "--base-url", "http://acme.example.com/api/v1/module", "--api-key", KEY)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "would cross the network unencrypted" in result.stderr
    assert "Use https://acme.example.com/api/v1/module" in result.stderr and "--allow-http" in result.stderr
    assert KEY not in result.output


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://127.0.0.2/api", "http://localhost:9000/api/v1",
                                 "http://sandbox.localhost", "http://[::1]:8080", "https://acme.example.com"])
def test_this_machine_and_https_need_no_permission(url):
    require_encryption(url)
    ApiClient(url, KEY)


def test_the_library_refuses_it_too_unless_allowed():
    with pytest.raises(SettingsError, match="plain http"):
        ApiClient("http://10.0.0.5/api/v1/module", KEY)
    ApiClient("http://10.0.0.5/api/v1/module", KEY, HttpSettings(allow_http=True))


def this_machines_network_address() -> str | None:
    """An address of this machine that is not loopback (none without a network route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # TEST-NET-2; no packet leaves: it only picks the route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_over_the_network_nothing_is_sent_until_allowed_then_the_sync_runs(tmp_path):
    address = this_machines_network_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    with Sandbox(SandboxOptions(seed=3, rows=5, host="0.0.0.0")) as api:
        url = f"http://{address}:{api.base_url.rsplit(':', 1)[1]}"
        with pytest.raises(SettingsError, match="plain http"):
            run_sync(sync_request(api, tmp_path, base_url=url, resources=["tasks"]))
        assert api.stats()["requests"] == 0
        assert not (tmp_path / "pipelines").exists(), "refused before the lock and the pipeline"
        allowed = run_sync(sync_request(api, tmp_path, base_url=url, resources=["tasks"], allow_http=True))
        assert allowed.ok, allowed.error
        assert allowed.rows == {"tasks": 5}
        checked = invoke("check", "--base-url", url, "--api-key", api.api_key, "--resources", "tasks", "--allow-http")
        assert checked.exit_code == 0 and "recommended: --allow-http" in checked.stdout, "sync needs it too"


def test_the_sandbox_can_play_an_api_that_moved_answering_301_with_the_whole_request():
    with Sandbox(SandboxOptions(seed=3, rows=5, moved_to="https://new.example.com/")) as api:
        answer = urllib3.request("GET", f"{api.base_url}/v1/task/tasks/list?api_key={api.api_key}&page=2",
                                 redirect=False)
    assert answer.status == 301
    assert answer.headers["Location"] == f"https://new.example.com/v1/task/tasks/list?api_key={api.api_key}&page=2"


def test_an_api_that_moved_elsewhere_is_named_not_followed_and_the_key_stays_home():
    with Sandbox(SandboxOptions(seed=3, rows=5, moved_to="https://new.example.com/api", api_key=KEY)) as api:
        result = invoke("sync", "--base-url", api.base_url, "--api-key", KEY, "--resources", "tasks")
        requests = api.stats()["requests"]
    assert result.exit_code == 1
    assert "HTTP 301" in result.stderr
    assert "the API moved to https://new.example.com/api/v1/task/tasks/list (not followed" in result.stderr
    assert "use that address as --base-url" in result.stderr
    assert KEY not in result.output
    assert requests == 1, "a move is not retried"
