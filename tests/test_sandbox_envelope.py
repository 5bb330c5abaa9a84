"""The sandbox speaks the platform's protocol: the envelope, pagination and error codes."""

from __future__ import annotations

import pytest

from pmcrm.sandbox.catalog import load_catalog
from tests.sandbox_fixtures import sandbox_api, sandbox_client

CATALOG = load_catalog()
ROWS = 23
TASKS = CATALOG.path_of("tasks")


api = sandbox_api(seed=11, rows=ROWS, rows_per_resource={"emails": 0, "lead": 250})
client = sandbox_client()


def error_code(reply) -> int:
    assert reply.status == 200, "errors travel as HTTP 200"
    return reply.json()["error"]["error_code"]


def test_the_catalog_has_36_resources_on_35_paths():
    assert len(CATALOG.resources) == 36
    assert len(CATALOG.paths) == 35
    assert CATALOG.path_of("st_projects_users") == CATALOG.path_of("project_observers")


@pytest.mark.parametrize("path", CATALOG.paths)
def test_every_path_answers_the_response_envelope(client, path):
    reply = client.get(path, page=1, limit=10)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    document = reply.json()
    assert set(document) == {"response"}
    response = document["response"]
    assert set(response) == {"total", "page", "count", "items"}
    expected_total = {CATALOG.path_of("emails"): 0, CATALOG.path_of("lead"): 250}.get(path, ROWS)
    assert response["total"] == expected_total
    assert response["page"] == 1
    assert response["count"] == len(response["items"]) == min(10, expected_total)


def test_pages_walk_the_rows_in_id_order_without_gaps_or_repeats(client, api):
    rows = client.all_rows(CATALOG.path_of("lead"), limit=7)
    assert rows == api.truth("lead")
    ids = [row["id"] for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == 250


def test_the_last_page_is_short_and_a_page_past_the_end_is_empty(client):
    last = client.page(TASKS, page=3, limit=10)
    assert (last["total"], last["count"], len(last["items"])) == (ROWS, 3, 3)
    beyond = client.page(TASKS, page=4, limit=10)
    assert (beyond["total"], beyond["page"], beyond["count"], beyond["items"]) == (ROWS, 4, 0, [])


def test_page_defaults_to_one_and_the_page_size_to_50_as_on_the_platform(client):
    response = client.page(CATALOG.path_of("lead"), page=None)
    assert response["page"] == 1
    assert response["count"] == 50


def test_a_limit_above_the_max_page_size_is_clamped(client):
    response = client.page(CATALOG.path_of("lead"), page=1, limit=1000)
    assert response["count"] == 100
    second = client.page(CATALOG.path_of("lead"), page=2, limit=1000)
    assert second["items"][0]["id"] > response["items"][-1]["id"], "page 2 continues after the clamped page 1"


def test_rows_with_a_null_id_come_first_and_only_where_no_resource_requires_an_id(client):
    nullable = [p for p in CATALOG.paths if CATALOG.allows_null_id(p)]
    assert nullable == [CATALOG.path_of("pipeline")]
    pipeline = client.all_rows(nullable[0])
    null_ids = [i for i, row in enumerate(pipeline) if row["id"] is None]
    assert null_ids == list(range(len(null_ids))) and null_ids, "a few null ids, all first"
    for path in CATALOG.paths:
        if path not in nullable:
            assert all(row["id"] is not None for row in client.all_rows(path))


@pytest.mark.parametrize("api_key", ["wrong-key", None, ""])
def test_a_wrong_or_missing_key_is_error_11(client, api_key):
    client.api_key = api_key
    assert error_code(client.get(TASKS, page=1)) == 11


@pytest.mark.parametrize("params", [{"page": "0"}, {"page": "-1"}, {"page": "two"}, {"page": "1.5"},
                                    {"limit": "0"}, {"limit": "ten"}, {"limit": "-5"}])
def test_a_bad_page_or_limit_is_error_12(client, params):
    assert error_code(client.get(TASKS, **params)) == 12


def test_an_unknown_module_is_error_31(client):
    assert error_code(client.get("/v1/nosuchmodule/things/list")) == 31
    assert error_code(client.get("/not-even-versioned")) == 31


def test_an_unknown_method_of_a_known_module_is_error_30(client):
    assert error_code(client.get("/v1/task/nosuchthing/list")) == 30
    assert error_code(client.get("/v1/crm/lead/get")) == 30


def test_unknown_parameters_are_ignored(client):
    plain = client.page(TASKS, page=1, limit=5)
    assert client.page(TASKS, page=1, limit=5, colour="blue", updated_since="garbage") == plain
