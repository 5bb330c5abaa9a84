"""SandboxOptions: sizes, page size and key; every knob off by default; the CLI says the same."""

from __future__ import annotations

from dataclasses import fields

import pytest

from pmcrm.sandbox import DEFAULT_API_KEY, Sandbox, SandboxOptions
from pmcrm.sandbox.catalog import load_catalog
from pmcrm.sandbox.command import sandbox_command
from pmcrm.sandbox.raw_client import SandboxClient

CATALOG = load_catalog()


def test_every_knob_is_off_by_default():
    options = SandboxOptions()
    assert (options.latency, options.rate_limit, options.fault_rate, options.mutate_while_paging) == (0, 0, 0, 0)
    assert options.server_filter is False
    assert options.api_key == DEFAULT_API_KEY
    assert (options.host, options.port, options.max_page_size) == ("127.0.0.1", 0, 100)


def test_every_platform_switch_is_off_by_default():
    options = SandboxOptions()
    assert (options.page_size_param, options.default_page_size, options.total_field, options.url_form) == (
        "limit", 50, "total", "spec")
    assert (options.rate_limit_window, options.rate_limit_status, options.rate_limit_body, options.retry_after) == (
        "sliding", 429, "json", True)
    assert (options.error_shape, options.unavailable, options.server_filter_ignored) == ("envelope", {}, False)


def test_rows_per_resource_takes_names_or_paths_and_overrides_the_default():
    with Sandbox(rows=12, rows_per_resource={"tasks": 30, "/v1/crm/lead/list": 0, "st_projects_users": 5}) as api:
        client = SandboxClient(api.base_url, api.api_key)
        totals = {p: client.page(p, limit=1)["total"] for p in CATALOG.paths}
    assert totals.pop(CATALOG.path_of("tasks")) == 30
    assert totals.pop(CATALOG.path_of("lead")) == 0
    assert totals.pop(CATALOG.path_of("project_observers")) == 5, "one dataset per path"
    assert set(totals.values()) == {12}


@pytest.mark.parametrize("rows_per_resource,message", [
    ({"no_such_resource": 3}, "rows_per_resource: unknown resource or path: 'no_such_resource'"),
    ({"st_projects_users": 3, "project_observers": 4},
     "rows_per_resource: conflicting row counts for /v1/st/project_observers/list: 3 and 4"),
])
def test_unknown_or_conflicting_row_counts_are_refused_before_anything_is_served(rows_per_resource, message):
    with pytest.raises(ValueError) as refused:
        SandboxOptions(rows_per_resource=rows_per_resource)
    assert str(refused.value) == message


def test_max_page_size_clamps_the_limit():
    with Sandbox(rows=40, max_page_size=15) as api:
        client = SandboxClient(api.base_url, api.api_key)
        assert client.page("/v1/task/tasks/list", limit=100)["count"] == 15
        assert client.page("/v1/task/tasks/list", limit=10)["count"] == 10


def test_a_chosen_api_key_replaces_the_default():
    with Sandbox(rows=5, api_key="my-own-key") as api:
        assert api.api_key == "my-own-key"
        client = SandboxClient(api.base_url, DEFAULT_API_KEY)
        assert client.get("/v1/task/tasks/list").json()["error"]["error_code"] == 11
        client.api_key = "my-own-key"
        assert "response" in client.get("/v1/task/tasks/list").json()


def test_base_url_has_no_trailing_slash_and_binds_loopback():
    with Sandbox(rows=1) as api:
        assert api.base_url.startswith("http://127.0.0.1:") and not api.base_url.endswith("/")
    with pytest.raises(RuntimeError):
        _ = api.base_url


@pytest.mark.parametrize("bad", [dict(fault_rate=1.5), dict(fault_kinds=("meteor",)), dict(rows=-1),
                                 dict(max_page_size=0), dict(latency=-1), dict(api_key=""),
                                 dict(mutate_while_paging=2)])
def test_impossible_options_are_refused(bad):
    with pytest.raises(ValueError):
        SandboxOptions(**bad)


@pytest.mark.parametrize("bad,message", [
    (dict(page_size_param=""), "page_size_param must be a parameter name other than api_key and page"),
    (dict(page_size_param="page"), "page_size_param must be a parameter name other than api_key and page"),
    (dict(default_page_size=0), "default_page_size must be >= 1"),
    (dict(total_field="sum"), "total_field must be one of total, total_result, both, got 'sum'"),
    (dict(url_form="api"), "url_form must be one of spec, platform, got 'api'"),
    (dict(rate_limit_window="calendar"), "rate_limit_window must be one of bucket, sliding, fixed, steady, got 'calendar'"),
    (dict(rate_limit_window="sliding", rate_limit=1.5),
     "a sliding window counts whole requests: rate_limit must be a whole number"),
    (dict(rate_limit_status=200), "rate_limit_status must be an HTTP error status (400-599)"),
    (dict(rate_limit_body="xml"), "rate_limit_body must be one of json, string, got 'xml'"),
    (dict(error_shape="html"), "error_shape must be one of envelope, string, got 'html'"),
])
def test_impossible_platform_switches_are_refused_with_the_reason(bad, message):
    with pytest.raises(ValueError) as refused:
        SandboxOptions(**bad)
    assert str(refused.value) == message


def test_options_round_trip_through_the_command_line_flags():
    options = SandboxOptions(seed=5, rows=77, rows_per_resource={"tasks": 9}, api_key="k", max_page_size=50,
                             latency=0.25, rate_limit=3.5, rate_limit_window="bucket", fault_rate=0.2,
                             fault_kinds=("cut", "http503"),
                             stall_seconds=2.0, mutate_while_paging=0.1, server_filter=True, port=0)
    context = sandbox_command.make_context("sandbox", options.to_cli_args())
    params = dict(context.params)
    assert SandboxOptions(**params) == options


def test_platform_switches_round_trip_through_the_command_line_flags():
    options = SandboxOptions(api_key="k", page_size_param="count", default_page_size=20, total_field="both",
                             url_form="platform", rate_limit=2, rate_limit_window="sliding", rate_limit_status=503,
                             rate_limit_body="string", retry_after=False, error_shape="string",
                             unavailable={"lead": 22, "/v1/crm/emails/list": 31}, server_filter_ignored=True)
    args = options.to_cli_args()
    assert args[args.index("--unavailable"):args.index("--unavailable") + 4] == [
        "--unavailable", "lead=22", "--unavailable", "/v1/crm/emails/list=31"]
    assert "--no-retry-after" in args
    params = dict(sandbox_command.make_context("sandbox", args).params)
    assert SandboxOptions(**params) == options


def test_the_help_names_a_flag_for_every_option():
    help_text = sandbox_command.get_help(sandbox_command.make_context("sandbox", []))
    flags = {"rows_per_resource": "--rows-for"}
    for spec in fields(SandboxOptions):
        assert flags.get(spec.name, "--" + spec.name.replace("_", "-")) in help_text, spec.name
