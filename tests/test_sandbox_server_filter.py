"""server_filter: updated_since= and sort= on list requests, only when switched on."""

from __future__ import annotations

import pytest

from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.sandbox.raw_client import SandboxClient
from tests.sandbox_fixtures import sandbox_api, sandbox_client

LEAD = "/v1/crm/lead/list"
EMAILS = "/v1/crm/emails/list"


api = sandbox_api(seed=4, rows=120, server_filter=True)
client = sandbox_client()


def middle_update_time(api) -> str:
    times = sorted(row["updated_date"] for row in api.truth("lead"))
    return times[len(times) // 2]


def test_updated_since_keeps_rows_updated_at_or_after_the_time(api, client):
    since = middle_update_time(api)
    rows = client.all_rows(LEAD, limit=25, updated_since=since)
    expected = [row for row in api.truth("lead") if row["updated_date"] >= since]
    assert rows == expected
    assert client.page(LEAD, updated_since=since)["total"] == len(expected) < len(api.truth("lead"))


def test_a_date_alone_means_midnight(api, client):
    assert client.all_rows(LEAD, updated_since="2021-06-01") == client.all_rows(LEAD, updated_since="2021-06-01 00:00:00")


@pytest.mark.parametrize("sort,reverse", [("updated_asc", False), ("updated_desc", True)])
def test_sort_orders_by_update_time(api, client, sort, reverse):
    rows = client.all_rows(LEAD, limit=30, sort=sort)
    times = [row["updated_date"] for row in rows]
    assert times == sorted(times, reverse=reverse)
    assert sorted(r["id"] for r in rows) == [r["id"] for r in api.truth("lead")]


def test_sort_id_asc_is_the_default_order(api, client):
    assert client.all_rows(LEAD, sort="id_asc") == client.all_rows(LEAD) == api.truth("lead")


@pytest.mark.parametrize("params", [{"updated_since": "yesterday"}, {"updated_since": "2024-13"},
                                    {"updated_since": "2024-02-30 10:00:00"},
                                    {"sort": "name_asc"}])
def test_a_bad_filter_value_is_error_12(client, params):
    assert client.get(LEAD, **params).json()["error"]["error_code"] == 12


def test_a_path_without_an_update_time_ignores_the_filter(api, client):
    assert client.all_rows(EMAILS, updated_since="2030-01-01 00:00:00") == api.truth("emails")


def test_off_by_default_the_filter_parameters_are_ignored():
    with Sandbox(SandboxOptions(seed=4, rows=60)) as plain:
        client = SandboxClient(plain.base_url, plain.api_key)
        assert client.all_rows(LEAD, updated_since="2030-01-01 00:00:00", sort="updated_desc") == plain.truth("lead")
