"""Ground truth and stats: what the API serves, and what it has done, in Python and over HTTP."""

from __future__ import annotations

from urllib.parse import urlencode
from urllib.request import Request, urlopen

import orjson
import pytest

from pmcrm.sandbox.catalog import load_catalog
from tests.sandbox_fixtures import sandbox_api, sandbox_client

CATALOG = load_catalog()


api = sandbox_api(seed=2, rows=45, rows_per_resource={"invoice": 0})
client = sandbox_client()


@pytest.mark.parametrize("resource", sorted(CATALOG.resources))
def test_truth_equals_the_served_pages_for_every_resource(api, client, resource):
    served = client.all_rows(CATALOG.path_of(resource), limit=20)
    assert api.truth(resource) == served
    assert client.get(f"/_sandbox/truth/{resource}").json() == served


def test_truth_takes_a_path_too_and_is_a_copy(api):
    path = CATALOG.path_of("tasks")
    rows = api.truth(path)
    rows[0]["name"] = "changed by the caller"
    assert api.truth("tasks")[0]["name"] != "changed by the caller"


def test_the_truth_and_stats_routes_need_the_key(client):
    client.api_key = "wrong"
    assert client.get("/_sandbox/truth/tasks").json()["error"]["error_code"] == 11
    assert client.get("/_sandbox/stats").json()["error"]["error_code"] == 11


def test_an_unknown_resource_has_no_truth(client):
    assert client.get("/_sandbox/truth/nothing").json()["error"]["error_code"] == 20


def test_stats_count_requests_pages_and_errors_per_path(api, client):
    api.reset_stats()
    tasks = CATALOG.path_of("tasks")
    client.all_rows(tasks, limit=20)  # 3 pages with rows, 1 empty
    client.get(tasks, page=0)
    client.get("/v1/nosuch/list")
    stats = api.stats()
    assert stats["requests"] == 6
    assert stats["pages"] == 4
    assert stats["requests_by_path"] == {tasks: 5}
    assert stats["pages_by_path"] == {tasks: 4}
    assert stats["errors"] == {"12": 1, "31": 1}
    assert stats["rate_limited"] == 0 and stats["faults"] == {}
    assert client.get("/_sandbox/stats").json() == stats, "reading the stats is not counted"


def test_reset_stats_starts_the_counts_again(api, client):
    client.get(CATALOG.path_of("lead"))
    api.reset_stats()
    assert api.stats() == {"requests": 0, "pages": 0, "requests_by_path": {}, "pages_by_path": {},
                           "errors": {}, "rate_limited": 0, "faults": {}}


def test_changes_are_posted_over_http_and_a_get_changes_nothing(api, client):
    lead = CATALOG.path_of("lead")
    before = api.truth("lead")
    assert client.get("/_sandbox/touch", amount="0.5", resources="lead").json()["error"]["error_code"] == 30
    assert api.truth("lead") == before
    query = urlencode({"api_key": api.api_key, "amount": "0.5", "resources": "lead"})
    with urlopen(Request(f"{api.base_url}/_sandbox/touch?{query}", method="POST")) as reply:
        touched = orjson.loads(reply.read())[lead]
    assert len(touched) == len(before) // 2
    assert api.truth("lead") != before
