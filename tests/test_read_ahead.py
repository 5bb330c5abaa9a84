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
