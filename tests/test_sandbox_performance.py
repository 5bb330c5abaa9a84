"""Performance smoke: big datasets, many connections, cached pages (no timing asserts)."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from pmcrm.sandbox.data import Dataset
from pmcrm.sandbox.page_cache import PageRenderer, PageRequest
from pmcrm.sandbox.raw_client import SandboxClient
from tests.sandbox_fixtures import sandbox_api

TASKS = "/v1/task/tasks/list"


api = sandbox_api(rows=50, rows_per_resource={"tasks": 5000})


def test_a_wide_resource_generates_at_benchmark_size():
    dataset = Dataset(seed=1, rows=20_000)
    assert len(dataset.table("account").rows) == 20_000


def test_a_keep_alive_client_walks_hundreds_of_pages_over_one_connection(api):
    client = SandboxClient(api.base_url, api.api_key)
    api.reset_stats()
    first_walk = [client.get(TASKS, page=page, limit=100).body for page in range(1, 51)]  # 5,000 rows
    for _ in range(9):
        walk = [client.get(TASKS, page=page, limit=100).body for page in range(1, 51)]
        assert [page for page, body in enumerate(walk, 1) if body != first_walk[page - 1]] == [], "not byte-identical"
    client.close()
    assert client.connections_opened == 1
    assert api.stats()["pages_by_path"] == {TASKS: 500}
    assert [row for body in first_walk for row in orjson.loads(body)["response"]["items"]] == api.truth("tasks")


def test_many_concurrent_keep_alive_connections_are_all_answered(api):
    async def crowd() -> list[int]:
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def walk(client_number: int) -> list[int]:
                totals = []
                for page in range(1, 6):
                    params = {"api_key": api.api_key, "page": page + client_number % 40, "limit": 25}
                    async with session.get(f"{api.base_url}{TASKS}", params=params) as reply:
                        totals.append((await reply.json())["response"]["total"])
                return totals
            results = await asyncio.gather(*(walk(i) for i in range(100)))
        return [total for totals in results for total in totals]

    assert asyncio.run(crowd()) == [5000] * 500


def test_a_page_is_rendered_once_and_rendered_again_only_after_its_data_changes():
    dataset = Dataset(seed=1, rows=300)
    renderer = PageRenderer(dataset)
    request = PageRequest(TASKS, page=2, limit=100)
    first = renderer.render(request)
    assert renderer.render(request) is first
    dataset.touch(0.5, ["tasks"])
    assert renderer.render(request) is not first
