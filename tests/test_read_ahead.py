"""Memory while reading: pages fetched ahead of their reader come from one shared budget,
a suspended reader keeps no page alive, and the keys a reader remembers cost 8 bytes
each while they arrive in id order (and behave exactly like a set)."""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from hypothesis import given, settings, strategies as st

from pmcrm.client import Page
from pmcrm.pages import EndpointReader, PageBudget, SeenKeys

ROWS, LIMIT = 2000, 100


class Items(list):
    """A page's rows, weak-referenceable so a test can see when nothing holds them."""


class Endpoint:
    def __init__(self, offset: int = 0):
        self.offset = offset
        self.lock = threading.Lock()
        self.fetched = 0

    def fetch(self, number: int) -> Page:
        with self.lock:
            self.fetched += 1
        first = self.offset + (number - 1) * LIMIT
        return Page(number, ROWS, Items({"id": first + i + 1} for i in range(min(LIMIT, ROWS - (number - 1) * LIMIT))))


def test_pages_read_ahead_never_exceed_the_shared_budget():
    budget, window = 3, 8
    endpoints = [Endpoint(offset) for offset in (0, 10**6)]
    with ThreadPoolExecutor(8) as pool:
        shared = PageBudget(budget)
        readers = [iter(EndpointReader("r", LIMIT, e.fetch, pool, window, budget=shared)) for e in endpoints]
        consumed = [0, 0]
        worst = 0
        for step in range(2 * (ROWS // LIMIT)):
            which = step % 2
            consumed[which] += 1 if next(readers[which], None) is not None else 0
            ahead = sum(e.fetched for e in endpoints) - sum(consumed)
            worst = max(worst, ahead)
    # Each reader: its next page, its last page (read early, see _still_since_last_page).
    assert worst <= budget + 2 * len(readers), worst


def test_a_suspended_reader_keeps_no_page_alive():
    endpoint = Endpoint()
    held = []
    original = endpoint.fetch

    def fetch(number):
        page = original(number)
        held.append(weakref.ref(page.items))
        return page

    with ThreadPoolExecutor(4) as pool:
        reader = iter(EndpointReader("r", LIMIT, fetch, pool, window=1, budget=PageBudget(0)))
        rows = next(reader)
        next(reader)  # suspended now, after handing over page 2
        del rows
        gc.collect()
        assert held[0]() is None, "page 1 is gone once its rows were handed over"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 10**6), st.integers(), st.binary(max_size=3)), max_size=60))
def test_seen_keys_behave_like_a_set(keys):
    seen, reference = SeenKeys(), set()
    for key in keys:
        assert (key in seen) == (key in reference)
        seen.add(key)
        reference.add(key)
        assert len(seen) == len(reference)
    assert sorted(map(repr, seen.values())) == sorted(map(repr, reference))


def test_ascending_integer_keys_are_kept_in_an_array():
    seen = SeenKeys()
    for key in range(1, 20001):
        seen.add(key)
    assert seen.values().itemsize == 8 and len(seen.values()) == 20000


_ids = st.one_of(st.integers(-3, 40), st.none(), st.integers(2**63 - 2, 2**64))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_ids, max_size=6), min_size=1, max_size=6))
def test_whole_page_fast_path_yields_exactly_the_rows_a_row_by_row_check_would(pages):
    """Pages whose ids ascend above every id seen skip the per-row check; any other page
    (repeats, ids below the highest seen, nulls, ids beyond 64 bits) goes row by row. Either way
    each row key is yielded once, in order, and the reader remembers every key."""
    reader = EndpointReader("r", LIMIT, fetch=None, executor=None, window=1)
    seen, reference, yielded, expected = SeenKeys(), set(), [], []
    for number, ids in enumerate(pages, start=1):
        items = [{"id": i, "n": number} for i in ids]
        yielded += reader._fresh(Page(number, None, items), seen)
        for item in items:
            key = item["id"] if item["id"] is not None else repr(sorted(item.items()))
            if key not in reference:
                reference.add(key)
                expected.append(item)
    assert [(i["id"], i["n"]) for i in yielded] == [(i["id"], i["n"]) for i in expected]
    assert len(seen) == len(reference)


def test_a_page_in_id_order_is_taken_whole():
    seen = SeenKeys()
    assert seen.add_new_ascending([1, 2, 3]) and seen.add_new_ascending([10, 11])
    assert not seen.add_new_ascending([11, 12]), "11 was seen: row by row"
    assert list(seen.values()) == [1, 2, 3, 10, 11]


def test_a_suspended_resource_keeps_no_typed_table_alive_once_dlt_took_it():
    # dlt writes a table and asks for the next one later, often much later (a resource's
    # generator waits suspended while others run). A list still holding the table across
    # the yield kept it alive all that while: ~40 MB more at the peak at 36 x 20,000 rows.
    from pmcrm.client import ApiClient
    from pmcrm.convert import TableBatcher
    from pmcrm.declarations import RESOURCES_BY_NAME
    from pmcrm.source import ReadOptions, RunRecord, _ResourceRun
    from pmcrm.transport import HttpSettings

    record = RunRecord()
    client = ApiClient("http://127.0.0.1:9", "test-key-123", HttpSettings(), record.stats)  # never asked
    with ThreadPoolExecutor(1) as pool:
        run = _ResourceRun(RESOURCES_BY_NAME["tasks"], client, pool, ReadOptions().parsed(), record)
        pages = [[{"id": page * LIMIT + i + 1, "title": "t"} for i in range(LIMIT)] for page in range(3)]
        tables = run._batches(iter(pages), TableBatcher(run.converter, convert_values=1, yield_bytes=1))
        table = next(tables)  # the generator is suspended now, as dlt leaves it
        handed = weakref.ref(table)
        del table  # dlt wrote it
        gc.collect()
        assert handed() is None, "the suspended generator still holds the table dlt took"
        assert sum(t.num_rows for t in tables) == 2 * LIMIT


def test_a_read_suspended_on_the_event_loop_keeps_no_table_alive_once_dlt_took_it():
    # The same, one level up: the driver between a reader and dlt (pmcrm.waits.awaiting).
    import asyncio

    import pyarrow as pa

    from pmcrm.waits import awaiting

    def reader():
        for n in range(2):
            yield pa.table({"id": [n]})

    async def dlt_takes_one_then_waits():
        tables = awaiting(reader())
        table = await anext(tables)  # the driver is suspended at its yield now
        handed = weakref.ref(table)
        del table  # dlt wrote it
        gc.collect()
        assert handed() is None, "the suspended driver still holds the table dlt took"
        assert (await anext(tables)).num_rows == 1

    asyncio.run(dlt_takes_one_then_waits())
