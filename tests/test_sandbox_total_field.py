"""total_field: the envelope counts rows under ``total``, ``total_result`` or both; ``count`` stays per page."""

from __future__ import annotations

import pytest

from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.sandbox.raw_client import SandboxClient

TASKS = "/v1/task/tasks/list"


def head_of(total_field: str, page: int, **params) -> dict:
    """The response of one page of 10 from 23 tasks (ids 1..31 with gaps), without its items."""
    with Sandbox(SandboxOptions(rows=23, total_field=total_field, server_filter=True)) as api:
        response = SandboxClient(api.base_url, api.api_key).page(TASKS, page=page, limit=10, **params)
    return {key: value for key, value in response.items() if key != "items"}


@pytest.mark.parametrize("total_field,expected", [
    ("total", {"total": 23, "page": 3, "count": 3}),
    ("total_result", {"total_result": 23, "page": 3, "count": 3}),
    ("both", {"total": 23, "total_result": 23, "page": 3, "count": 3}),
])
def test_the_row_count_travels_under_the_chosen_keys(total_field, expected):
    assert head_of(total_field, page=3) == expected


def test_both_keys_count_the_filtered_rows_not_pages():
    above_5 = {"filter[id]": '{"type": "more", "value": 5}'}  # ids 7..31: 20 rows
    assert head_of("both", page=2, **above_5) == {"total": 20, "total_result": 20, "page": 2, "count": 10}


def test_the_keys_come_in_the_platforms_order():
    with Sandbox(rows=2, total_field="both") as api:
        body = SandboxClient(api.base_url, api.api_key).get(TASKS, limit=1).body
    assert body.startswith(b'{"response":{"total":2,"total_result":2,"page":1,"count":1,"items":[')
