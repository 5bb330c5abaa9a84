"""mutate_while_paging: between two page requests the path's rows are inserted, updated and deleted."""

from __future__ import annotations

import pytest

from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.sandbox.raw_client import SandboxClient

TASKS = "/v1/task/tasks/list"


def walk(seed: int) -> tuple[list[int], list[dict], list[dict]]:
    """Page through tasks on a moving dataset: the totals seen, the rows read, the truth after."""
    with Sandbox(SandboxOptions(seed=seed, rows=200, mutate_while_paging=0.05)) as api:
        client = SandboxClient(api.base_url, api.api_key)
        totals, rows, page = [], [], 1
        while (response := client.page(TASKS, page, limit=20))["items"]:
            totals.append(response["total"])
            rows.extend(response["items"])
            page += 1
        return totals, rows, api.truth("tasks")


@pytest.fixture(scope="module")
def walked():
    return walk(seed=21)


def test_the_dataset_moves_between_pages(walked):
    totals, rows, truth = walked
    assert len(set(totals)) > 1, "inserts and deletes change the total from page to page"
    assert rows != truth, "what a naive pager read is not what the API holds at the end"


def test_inserts_updates_and_deletes_all_happen(walked):
    _, rows, truth = walked
    read = {row["id"]: row for row in rows}
    now = {row["id"]: row for row in truth}
    assert set(now) - set(read), "some rows were inserted"
    assert set(read) - set(now), "some rows were deleted"
    assert any(read[i]["updated_date"] < now[i]["updated_date"] for i in set(read) & set(now)), "some were updated"


def test_the_moving_dataset_stays_relationally_consistent_and_ordered(walked):
    _, _, truth = walked
    ids = [row["id"] for row in truth]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(row["parent_id"] is None or row["parent_id"] in set(ids) for row in truth)


def test_the_changes_are_deterministic_per_seed(walked):
    assert walk(seed=21) == walked


def test_off_by_default_the_dataset_stays_still():
    with Sandbox(SandboxOptions(rows=50)) as api:
        client = SandboxClient(api.base_url, api.api_key)
        before = api.truth("tasks")
        assert client.all_rows(TASKS, limit=10) == before == api.truth("tasks")
