"""page_size_param and default_page_size: which query parameter sets the page size, and the size without it."""

from __future__ import annotations

import pytest

from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.sandbox.raw_client import SandboxClient

TASKS = "/v1/task/tasks/list"


@pytest.fixture(scope="module")
def count_param():
    """A deployment that reads ``count`` as the page size, as one generated client sends it."""
    with Sandbox(SandboxOptions(rows=120, page_size_param="count")) as sandbox:
        yield SandboxClient(sandbox.base_url, sandbox.api_key)


def test_without_a_page_size_the_page_has_50_rows():
    with Sandbox(rows=120) as api:
        response = SandboxClient(api.base_url, api.api_key).page(TASKS)
    assert (response["total"], response["count"], len(response["items"])) == (120, 50, 50)


def test_a_limit_is_ignored_when_the_server_reads_another_parameter(count_param):
    response = count_param.page(TASKS, limit=100)
    assert (response["count"], len(response["items"])) == (50, 50)
    assert [response["items"][0]["id"], response["items"][-1]["id"]] == [1, 65]


def test_the_configured_parameter_sets_the_page_size(count_param):
    assert count_param.page(TASKS, count=20)["count"] == 20
    assert count_param.page(TASKS, count=20, limit=7)["count"] == 20, "limit is just an unknown parameter"


def test_the_configured_parameter_is_clamped_to_the_max_page_size(count_param):
    assert count_param.page(TASKS, count=500)["count"] == 100


def test_a_bad_value_of_the_configured_parameter_is_error_12(count_param):
    assert count_param.get(TASKS, count="0").json() == {
        "error": {"error_code": 12, "error_msg": "Invalid request: count must be a positive integer, got '0'"}}
    assert "response" in count_param.get(TASKS, limit="0").json(), "limit is not read, so not checked"


def test_pages_of_the_default_size_walk_every_row_once(count_param):
    sizes = [count_param.page(TASKS, page=page)["count"] for page in (1, 2, 3, 4)]
    assert sizes == [50, 50, 20, 0]


def test_a_chosen_default_page_size_applies_without_the_parameter():
    with Sandbox(rows=120, default_page_size=30) as api:
        client = SandboxClient(api.base_url, api.api_key)
        assert client.page(TASKS)["count"] == 30
        assert client.page(TASKS, limit=80)["count"] == 80


def test_a_default_page_size_above_the_max_page_size_is_clamped():
    with Sandbox(rows=120, default_page_size=200) as api:
        assert SandboxClient(api.base_url, api.api_key).page(TASKS)["count"] == 100
