"""error_shape="string": errors as {"error": "<word>", "description": "...", "details": {}}, still HTTP 200;
the rate-limit refusal keeps its own style."""

from __future__ import annotations

import orjson
import pytest

from pmcrm.sandbox import Sandbox
from pmcrm.sandbox.error_answers import error_body
from pmcrm.sandbox.raw_client import SandboxClient
from tests.sandbox_fixtures import sandbox_api, sandbox_client

TASKS = "/v1/task/tasks/list"


api = sandbox_api(rows=4, error_shape="string", unavailable={"lead": 22})
client = sandbox_client()


def string_error(word: str, description: str) -> dict:
    return {"error": word, "description": description, "details": {}}


def test_a_bad_key_is_authorization_failed(client):
    client.api_key = "wrong"
    reply = client.get(TASKS)
    assert (reply.status, reply.json()) == (200, string_error("authorization_failed", "Authorization failed"))


def test_a_bad_page_is_invalid_request_with_the_reason(client):
    assert client.get(TASKS, page="0").json() == string_error(
        "invalid_request", "Invalid request: page must be a positive integer, got '0'")


@pytest.mark.parametrize("path,word,description", [
    ("/v1/nosuchmodule/things/list", "unknown_module", "Unknown module"),
    ("/v1/task/nosuchthing/list", "unknown_method", "Unknown method"),
    ("/v1/crm/lead/list", "access_denied", "Access denied"),
])
def test_unknown_paths_and_unavailable_resources(client, path, word, description):
    assert client.get(path).json() == string_error(word, description)


def test_an_injected_error_13_is_internal_error():
    with Sandbox(rows=2, error_shape="string", fault_rate=1.0, fault_kinds=("envelope13",)) as api:
        reply = SandboxClient(api.base_url, api.api_key).get(TASKS)
    assert (reply.status, reply.json()) == (200, string_error("internal_error", "Internal error - retry later"))


def test_the_rate_limit_refusal_is_not_reshaped():
    with Sandbox(rows=2, error_shape="string", rate_limit=1) as api:
        client = SandboxClient(api.base_url, api.api_key)
        refused = [client.get(TASKS) for _ in range(2)][1]
    assert (refused.status, refused.json()) == (429, {"message": "Too Many Requests", "retry_after": 1})


def test_sandbox_routes_answer_in_the_same_shape(api, client):
    assert client.get("/_sandbox/truth/no_such_resource").json() == string_error(
        "not_found", "Not found: no such resource")


def test_by_default_errors_keep_the_envelope():
    with Sandbox(rows=2) as api:
        reply = SandboxClient(api.base_url, "wrong").get(TASKS)
    assert reply.json() == {"error": {"error_code": 11, "error_msg": "Authorization failed"}}


@pytest.mark.parametrize("code,word,description", [
    (10, "unknown", "Unknown error"), (11, "authorization_failed", "Authorization failed"),
    (12, "invalid_request", "Invalid request"), (13, "internal_error", "Internal error - retry later"),
    (20, "not_found", "Not found"), (21, "validation", "Validation error"), (22, "access_denied", "Access denied"),
    (30, "unknown_method", "Unknown method"), (31, "unknown_module", "Unknown module"),
])
def test_every_code_has_its_word(code, word, description):
    assert orjson.loads(error_body(code, shape="string")) == string_error(word, description)
    assert orjson.loads(error_body(code)) == {"error": {"error_code": code, "error_msg": description}}
