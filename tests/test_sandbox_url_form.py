"""url_form="platform": the API lives only under /api/v1/module, as the platform's docs write it;
any other URL is the web server's HTML 404. /_sandbox/ stays at the root; stats keep the spec paths."""

from __future__ import annotations

import pytest

from pmcrm.sandbox import Sandbox, SandboxProcess
from pmcrm.sandbox.raw_client import SandboxClient
from tests.sandbox_fixtures import sandbox_api, sandbox_client

PLATFORM_TASKS = "/api/v1/module/task/tasks/list"
SPEC_TASKS = "/v1/task/tasks/list"


api = sandbox_api(rows=9, url_form="platform")
client = sandbox_client()


def assert_html_404(reply) -> None:
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.body.startswith(b"<html>") and b"404 Not Found" in reply.body


def test_the_platform_path_serves_the_list(client):
    response = client.page(PLATFORM_TASKS, limit=5)
    assert (response["total"], response["count"]) == (9, 5)


@pytest.mark.parametrize("path", [SPEC_TASKS, "/", "/api/v1/module", "/api/v1/task/tasks/list",
                                  "/v1/api/v1/module/task/tasks/list"])
def test_any_other_url_is_an_html_404(client, path):
    assert_html_404(client.get(path))


def test_a_wrong_url_is_404_whatever_the_key(client):
    client.api_key = "wrong"
    assert_html_404(client.get(SPEC_TASKS))
    assert client.get(PLATFORM_TASKS).json() == {"error": {"error_code": 11, "error_msg": "Authorization failed"}}


def test_unknown_modules_and_methods_under_the_platform_prefix_are_errors_31_and_30(client):
    assert client.get("/api/v1/module/nosuchmodule/things/list").json()["error"]["error_code"] == 31
    assert client.get("/api/v1/module/task/nosuchthing/list").json()["error"]["error_code"] == 30


def test_stats_count_by_the_spec_path(api, client):
    api.reset_stats()
    client.page(PLATFORM_TASKS)
    client.get(SPEC_TASKS)
    stats = api.stats()
    assert stats["requests"] == 2
    assert stats["requests_by_path"] == {SPEC_TASKS: 1}
    assert stats["pages_by_path"] == {SPEC_TASKS: 1}


def test_api_url_is_what_a_user_would_paste(api, client):
    assert api.api_url == api.base_url + "/api/v1/module"
    assert client.page(api.api_url[len(api.base_url):] + "/task/tasks/list")["total"] == 9


def test_in_the_spec_form_api_url_is_the_base_url():
    with Sandbox(rows=1) as spec:
        assert spec.api_url == spec.base_url


def test_a_sandbox_process_takes_the_url_form_and_keeps_sandbox_routes_at_the_root():
    with SandboxProcess(rows=4, url_form="platform") as api:
        assert api.api_url == api.base_url + "/api/v1/module"
        client = SandboxClient(api.base_url, api.api_key)
        assert client.all_rows("/api/v1/module/crm/lead/list") == api.truth("lead")
        assert_html_404(client.get("/v1/crm/lead/list"))
        assert api.stats()["pages_by_path"] == {"/v1/crm/lead/list": 2}
