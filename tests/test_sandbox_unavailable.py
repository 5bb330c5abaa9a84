"""unavailable: resources whose module the key cannot use answer error 22, 30 or 31, after the key check."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pmcrm.sandbox import SandboxOptions
from pmcrm.sandbox.command import sandbox_command
from tests.sandbox_fixtures import sandbox_api, sandbox_client

UNAVAILABLE = {"lead": 22, "/v1/task/tasks/list": 30, "emails": 31, "st_projects_users": 22}


api = sandbox_api(rows=6, unavailable=UNAVAILABLE)
client = sandbox_client()


@pytest.mark.parametrize("path,error", [
    ("/v1/crm/lead/list", {"error_code": 22, "error_msg": "Access denied"}),
    ("/v1/task/tasks/list", {"error_code": 30, "error_msg": "Unknown method"}),
    ("/v1/crm/emails/list", {"error_code": 31, "error_msg": "Unknown module"}),
    ("/v1/st/project_observers/list", {"error_code": 22, "error_msg": "Access denied"}),
])
def test_every_list_request_to_an_unavailable_resource_answers_its_error(client, path, error):
    for params in ({}, {"page": 2, "limit": 5}):
        reply = client.get(path, **params)
        assert (reply.status, reply.json()) == (200, {"error": error})


def test_other_resources_are_served(client):
    assert client.page("/v1/crm/account/list")["total"] == 6


def test_a_wrong_key_is_still_error_11(client):
    client.api_key = "wrong"
    assert client.get("/v1/crm/lead/list").json()["error"]["error_code"] == 11


def test_the_errors_are_counted_by_code(api, client):
    api.reset_stats()
    client.get("/v1/crm/lead/list")
    client.get("/v1/crm/emails/list")
    assert api.stats()["errors"] == {"22": 1, "31": 1}


def test_the_ground_truth_stays_readable(api):
    assert len(api.truth("lead")) == 6


@pytest.mark.parametrize("unavailable,message", [
    ({"no_such_resource": 22}, "unavailable: unknown resource or path 'no_such_resource'"),
    ({"lead": 12}, "unavailable: lead=12; the code must be one of 22 (access denied), 30 (unknown method), "
                   "31 (unknown module)"),
    ({"st_projects_users": 22, "project_observers": 31}, "unavailable: two codes for /v1/st/project_observers/list"),
])
def test_unknown_resources_and_other_codes_are_refused(unavailable, message):
    with pytest.raises(ValueError) as refused:
        SandboxOptions(unavailable=unavailable)
    assert str(refused.value) == message


@pytest.mark.parametrize("flag,message", [("no_such_resource=22", "unknown resource or path 'no_such_resource'"),
                                          ("lead=13", "the code must be one of 22"),
                                          ("lead", "expected RESOURCE=CODE, got 'lead'")])
def test_the_command_refuses_them_with_a_usage_error(flag, message):
    result = CliRunner().invoke(sandbox_command, ["--unavailable", flag])
    assert result.exit_code == 2
    assert message in result.output
