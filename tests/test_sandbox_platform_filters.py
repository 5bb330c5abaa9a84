"""The platform's filter[<field>]= and order_by[asc|desc][]= (with server_filter=True), and
server_filter_ignored: a deployment that accepts every filter and applies none.

The 12 leads of seed 4 (id: pipeline_stage_id, budget, updated_date, active, assignee_id):

     1: 141, 11770.89, 2021-02-04 20:06:20, 1, 25       11: 180,  4203.61, 2021-10-22 00:13:52, 1, 16
     3: 280, 13407.44, 2019-09-05 07:47:11, 0,  1       12: 128, 19880.90, 2022-10-24 00:50:51, 1,  3
     4:  90,     null, 2023-04-11 18:17:22, 1, null     13:   8, 16709.33, 2023-12-23 23:49:47, 1, 11
     5: 114, 99147.95, 2020-09-26 01:10:08, 1, 13       14: 175,  6901.84, 2023-11-24 18:00:44, 1, 39
     6: 283,  6434.67, 2022-01-23 01:08:36, 1,  2       15: null, 96640.56, 2023-10-05 18:19:22, 0, 13
     7: 275, 17828.68, 2022-11-28 12:51:58, 1, 10       16: 114,  5759.48, 2024-02-06 21:02:11, 1,  8

closing_date is null on leads 3 and 15; only lead 14 has the custom field cf_23 (35).
"""

from __future__ import annotations

import json

import pytest

from pmcrm.sandbox import Sandbox
from pmcrm.sandbox.data import Dataset
from pmcrm.sandbox.filters import Condition, RowQuery, select
from pmcrm.sandbox.page_cache import PageRenderer, PageRequest
from pmcrm.sandbox.raw_client import SandboxClient
from tests.sandbox_fixtures import sandbox_api, sandbox_client

LEAD = "/v1/crm/lead/list"
ALL_IDS = [1, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16]


api = sandbox_api(seed=4, rows_per_resource={"lead": 12}, rows=3, server_filter=True)
client = sandbox_client()


def ids(client, **params) -> list:
    return [row["id"] for row in client.all_rows(LEAD, limit=5, **params)]


def where(field: str, comparison: str, value) -> dict:
    return {f"filter[{field}]": json.dumps({"type": comparison, "value": value})}


@pytest.mark.parametrize("value,expected", [("114", [5, 16]), ("114,280,8", [3, 5, 13, 16]), ("999", [])])
def test_a_plain_value_is_equality_and_a_comma_list_is_in(client, value, expected):
    assert ids(client, **{"filter[pipeline_stage_id]": value}) == expected


def test_strings_compare_equal_as_strings(client):
    assert ids(client, **{"filter[name]": "Oscorp: Trade fair"}) == [5]


@pytest.mark.parametrize("params,expected", [
    (where("id", "more", 12), [13, 14, 15, 16]),
    (where("id", "less_or_equal", "5"), [1, 3, 4, 5]),
    (where("updated_date", "more_or_equal", "2023-04-11 18:17:22"), [4, 13, 14, 15, 16]),
    (where("updated_date", "less", "2021"), [3, 5]),
    (where("cf_23", "more", 0), [14]),
])
def test_a_json_value_compares_numbers_as_numbers_and_strings_as_strings(client, params, expected):
    assert ids(client, **params) == expected


def test_null_values_never_match_a_comparison(client):
    assert ids(client, **where("budget", "less", 20000)) == [1, 3, 6, 7, 11, 12, 13, 14, 16]
    assert ids(client, **where("closing_date", "less", "2099-01-01")) == [1, 4, 5, 6, 7, 11, 12, 13, 14, 16]
    assert ids(client, **where("pipeline_stage_id", "more_or_equal", 0)) == [1, 3, 4, 5, 6, 7, 11, 12, 13, 14, 16]


def test_empty_strings_never_match_a_comparison_but_do_match_equality():
    rows = [{"id": 1, "deadline": ""}, {"id": 2, "deadline": "2024-01-01 00:00:00"}, {"id": 3, "deadline": None}]
    less = RowQuery(conditions=(Condition("deadline", numeric=False, comparison="less", bound="2099"),))
    empty = RowQuery(conditions=(Condition("deadline", numeric=False, wanted=("",)),))
    assert [row["id"] for row in select(rows, less, None)] == [2]
    assert [row["id"] for row in select(rows, empty, None)] == [1]


def test_several_filters_combine_with_and_and_total_counts_the_matches(client):
    params = {"filter[pipeline_stage_id]": "114,175,8,141", **where("budget", "more", 10000)}
    assert ids(client, **params) == [1, 5, 13]
    assert client.page(LEAD, **params)["total"] == 3


@pytest.mark.parametrize("params,expected", [
    ({"order_by[desc][]": "budget"}, [5, 15, 12, 7, 13, 3, 1, 14, 6, 16, 11, 4]),
    ({"order_by[asc][]": "budget"}, [4, 11, 16, 6, 14, 1, 3, 13, 7, 12, 15, 5]),
    ({"order_by[asc][]": "pipeline_stage_id"}, [15, 13, 4, 5, 16, 12, 1, 14, 11, 7, 3, 6]),
    ({"order_by[desc][]": "pipeline_stage_id"}, [6, 3, 7, 11, 14, 1, 12, 5, 16, 4, 13, 15]),
    ({"order_by[asc][]": "id"}, ALL_IDS),
])
def test_order_by_sorts_nulls_first_ascending_and_breaks_ties_by_id(client, params, expected):
    assert ids(client, **params) == expected


def test_several_order_by_keys_apply_in_the_order_given(client):
    params = {"order_by[desc][]": "active", "order_by[asc][]": "assignee_id"}
    assert ids(client, **params) == [4, 6, 12, 16, 7, 13, 5, 11, 1, 14, 3, 15]


def test_order_by_wins_over_sort(client):
    by_budget = [4, 11, 16, 6, 14, 1, 3, 13, 7, 12, 15, 5]
    assert ids(client, sort="updated_desc", **{"order_by[asc][]": "budget"}) == by_budget


def test_pages_of_one_query_share_one_cached_view_until_the_data_changes():
    dataset = Dataset(seed=4, rows=3, rows_per_resource={"lead": 12})
    renderer = PageRenderer(dataset)
    query = RowQuery(order=(("budget", True),))
    renderer.render(PageRequest(LEAD, 1, 5, query))
    view = renderer._caches[LEAD].views[query]
    renderer.render(PageRequest(LEAD, 2, 5, query))
    assert renderer._caches[LEAD].views[query] is view
    dataset.touch(0.5, ["lead"])
    renderer.render(PageRequest(LEAD, 1, 5, query))
    assert renderer._caches[LEAD].views[query] is not view


def test_filters_order_and_pages_work_together(client):
    params = {"filter[active]": "1", "order_by[desc][]": "updated_date"}
    response = client.page(LEAD, page=2, limit=4, **params)
    assert (response["total"], response["count"]) == (10, 4)
    assert [row["id"] for row in response["items"]] == [7, 12, 6, 11]


@pytest.mark.parametrize("params", [
    {"filter[id]": '{"type": "more", "value": 42'},
    {"filter[id]": '{"type": "between", "value": 42}'},
    {"filter[id]": '{"type": "more"}'},
    {"filter[id]": "abc"},
    {"filter[nosuchfield]": "1"},
    {"filter[cf.field_8]": '{"start_date": "2024-05-01"}'},
    {"order_by[asc][]": "nosuchfield"},
    {"order_by[up][]": "id"},
])
def test_a_malformed_filter_is_error_12(client, params):
    assert client.get(LEAD, **params).json()["error"]["error_code"] == 12


def test_a_filtered_view_follows_data_changes():
    with Sandbox(seed=4, rows_per_resource={"lead": 12}, rows=3, server_filter=True) as api:
        client, above_10 = SandboxClient(api.base_url, api.api_key), where("id", "more", 10)
        assert ids(client, **above_10) == [11, 12, 13, 14, 15, 16]
        assert api.insert(1, ["lead"]) == {LEAD: [17]}
        assert ids(client, **above_10) == [11, 12, 13, 14, 15, 16, 17]
        assert api.delete(1, ["lead"]) == {LEAD: [11]}
        assert ids(client, **above_10) == [12, 13, 14, 15, 16, 17]


def test_off_by_default_the_platform_filters_are_ignored():
    with Sandbox(seed=4, rows_per_resource={"lead": 12}, rows=3) as plain:
        assert ids(SandboxClient(plain.base_url, plain.api_key), **where("id", "more", 12)) == ALL_IDS


def test_server_filter_ignored_accepts_every_filter_and_applies_none():
    params = {**where("id", "more", 12), "order_by[desc][]": "id", "filter[nosuchfield]": "1",
              "updated_since": "yesterday", "sort": "bogus"}
    with Sandbox(seed=4, rows_per_resource={"lead": 12}, rows=3, server_filter=True,
                 server_filter_ignored=True) as ignoring:
        client = SandboxClient(ignoring.base_url, ignoring.api_key)
        assert ids(client, **params) == ALL_IDS
        assert client.page(LEAD, **params)["total"] == 12
