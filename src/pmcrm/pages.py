"""Reading every row of one list endpoint: page planning, parallel pages, consistency.

Why by hand and not dlt's PageNumberPaginator: that paginator reads `total` as a number
of pages (ours counts rows), raises on a missing total (dlt-hub/dlt#4429), cannot fetch
pages in parallel (dlt-hub/dlt#2844) and cannot notice rows shifting between pages.

The first page gives `total`, so pages 2..N are known and fetched concurrently on a shared
pool, yielded in order. Page-number paging over data that changes while it is read skips
rows (a delete shifts later rows onto an earlier page) and repeats others. Every page
carries `total`; if it moved during the read, or the rows do not add up, the endpoint is
read again and rows already seen are skipped:

- rows in ascending id order (new rows get higher ids, so rows only ever move towards
  page 1, and only when a row is inserted or deleted): the last page is read right after
  page 1, and once more with page 1 after all the others. Any insert or delete changes
  the last page, so an unchanged last page proves pages 2..N were read from data that
  held still; page 1 read again completes that snapshot (2 extra requests; with exactly
  2 pages nothing lies between them, and page 1 unchanged is the whole proof: 1). When
  the previous sync says which page is the last (`last_page_hint`), it is read before
  page 1 instead: every page then lies between its two reads, and the last page alone,
  unchanged, is the proof (1 extra request; a wrong hint costs 1 wasted one). When the
  data did move, one "settle" pass reads the pages one at a time from the last to the
  first: a row present for the whole pass cannot slip past it, it only moves to pages not
  yet read. No quiet moment is needed, so this converges while the data keeps moving.
- any other order: passes repeat until one is itself consistent (one total, rows ==
  total == distinct rows); after MAX_READ_PASSES the read fails loudly rather than load
  a silent gap. Not detected in this case (docs/reliability.md): inserts and deletes
  that cancel out in `total` and row count between two page reads.
"""

from __future__ import annotations

import itertools
import math
import operator
import threading
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import orjson

from pmcrm.client import Page
from pmcrm.errors import ApiError, IncompleteReadError
from pmcrm.waits import Waiting, blocking, result_of

FetchPage = Callable[[int], Page]
# Without a total, stop after this many pages rather than loop forever.
MAX_PAGES_WITHOUT_TOTAL = 100_000
MAX_READ_PASSES = 4


def requests_for(pages: int, last_page_known: bool = False) -> int:
    """Requests that reading `pages` pages takes while the data holds still (rows in id
    order): each page once, and page 1 and the last once more, the check that nothing
    moved (`EndpointReader._still_since_last_page`); with 2 pages, page 1 alone again;
    with the last page known beforehand (a later sync), the last page alone again."""
    if pages > 2:
        return pages + 1 if last_page_known else pages + 2
    return pages + 1 if pages == 2 else pages


def served_page_size(first: Page, asked: int) -> int | None:
    """Rows per page the server serves, as page 1 shows it: a full page is the size asked;
    a page with fewer (or more) rows than asked while the total says more exist shows the
    server's own size (a cap, or a page-size parameter it does not read). None when page 1
    cannot tell (no total, or every row fits on it)."""
    served = len(first.items)
    if served == asked:
        return asked
    if first.total is None or served == 0 or first.total <= served:
        return None
    return served


def page_ids(page: Page) -> tuple:
    return tuple(item.get("id") for item in page.items)


def ascending_int64(ids: Sequence[Any]) -> bool:
    """Every id a 64-bit int (not bool), each greater than the one before. Built from
    map() so the per-row work stays in C: this runs on every row of every page."""
    return (
        bool(ids)
        and set(map(type, ids)) == {int}
        and -(2**63) <= ids[0]
        and ids[-1] < 2**63
        and all(map(operator.lt, ids, ids[1:]))
    )


def row_key(item: dict[str, Any]) -> Any:
    """Identity of a row for de-duplication: its id, or its whole content if id is null."""
    row_id = item.get("id")
    return row_id if row_id is not None else orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


class SeenKeys:
    """A set of row keys that costs 8 bytes a key while keys arrive as ascending integers
    (ids in id order: the usual listing), and becomes a plain set once they do not.

    Why: a reader remembers every key it has read, and at 36 resources x 20,000 rows the
    plain sets were ~40 MB; in id order a sorted array answers the same questions."""

    def __init__(self) -> None:
        self._sorted: array | None = array("q")
        self._set: set = set()

    def __contains__(self, key: Any) -> bool:
        if self._sorted is None:
            return key in self._set
        if type(key) is not int or not self._sorted or key > self._sorted[-1]:
            return False
        position = bisect_left(self._sorted, key)
        return position < len(self._sorted) and self._sorted[position] == key

    def add(self, key: Any) -> None:
        if self._sorted is not None:
            if type(key) is int and -(2**63) <= key < 2**63 and (not self._sorted or key > self._sorted[-1]):
                self._sorted.append(key)
                return
            if key in self:
                return
            self._set, self._sorted = set(self._sorted), None
        self._set.add(key)

    def add_new_ascending(self, ids: Sequence[int]) -> bool:
        """Add a page's ids in one step if they are ascending 64-bit ints all above every
        key held (the usual page in id order): then none was seen before. False, and
        nothing added, otherwise - the caller goes row by row."""
        if self._sorted is None or (self._sorted and ids[0] <= self._sorted[-1]):
            return False
        self._sorted.extend(ids)
        return True

    def __len__(self) -> int:
        return len(self._sorted) if self._sorted is not None else len(self._set)

    def values(self) -> Sequence:
        return self._sorted if self._sorted is not None else list(self._set)


@dataclass
class _Pass:
    totals: set = field(default_factory=set)
    keys: set | SeenKeys = field(default_factory=set)
    rows: int = 0
    # page number -> (first id, last id) while every page is in ascending integer id order
    id_spans: dict | None = field(default_factory=dict)
    last_page: tuple[int, tuple] | None = None  # (number, ids) of the highest page past 1
    first_page: tuple | None = None  # row keys of page 1
    repeated_page: int | None = None  # a later page that held exactly page 1's rows

    def add(self, page: Page, ids: list, ascending: bool) -> None:
        """Count `page`, whose row ids are `ids` (`ascending`: see ascending_int64)."""
        self.rows += len(page.items)
        if page.total is not None:
            self.totals.add(page.total)
        keys = tuple(map(row_key, page.items)) if page.number <= 2 else ()
        if page.number == 1:
            self.first_page = keys
        elif keys and keys == self.first_page:
            self.repeated_page = page.number
        if page.number > 1 and (self.last_page is None or page.number >= self.last_page[0]):
            self.last_page = (page.number, tuple(ids))
        if self.id_spans is None:
            return
        if not ascending:
            ids = [i for i in ids if i is not None]  # a null id has no place in the order
            if not ids:
                return
            ascending = ascending_int64(ids)
        if ascending:
            self.id_spans[page.number] = (ids[0], ids[-1])
        else:
            self.id_spans = None

    def consistent(self) -> bool:
        (total,) = self.totals if len(self.totals) == 1 else (None,)
        return total is not None and self.rows == total == len(self.keys)

    def in_id_order(self) -> bool:
        """Pages in ascending id order, each page after the one before it: rows moved by
        fewer than a page's worth of deletes keep this; rows inserted anywhere but at the
        end, or another sort order, break it.

        Two pages may end with the same row: in a settle pass (last page first), deletes
        after a short last page was read move all its rows onto the page before it, whose
        last row is then the last page's. That is a row moving towards page 1, what id
        order predicts, so it is not counted against the order (a strict check here made
        data that kept changing fail loudly after MAX_READ_PASSES); the first ids still
        have to rise."""
        if not self.id_spans:
            return False
        spans = [self.id_spans[n] for n in sorted(self.id_spans)]
        return all(a[0] < b[0] and a[1] <= b[1] for a, b in itertools.pairwise(spans))

    def settled(self) -> bool:
        """A settle pass in id order proves completeness (module docstring) - unless it saw
        one total, no row twice and still rows that do not add up: then the API's total is
        wrong, the data did not move."""
        moved = len(self.totals) > 1 or self.rows > len(self.keys)
        return self.in_id_order() and (moved or self.consistent())


class PageBudget:
    """Read-ahead shared by every endpoint of a run: how many pages may be fetched before
    their reader asks for them. Each reader may always have its next page in flight, so
    no reader waits on another; beyond that, pages come from this budget. It bounds the
    parsed pages held in memory (a page of wide rows is ~0.5 MB of Python objects) while
    keeping the request pool busy."""

    def __init__(self, pages: int):
        self._free = max(pages, 0)
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._free <= 0:
                return False
            self._free -= 1
            return True

    def give(self) -> None:
        with self._lock:
            self._free += 1


class EndpointReader:
    """Yields the pages of one endpoint, each with only rows not yet yielded."""

    def __init__(
        self,
        resource: str,
        limit: int,
        fetch: FetchPage,
        executor: Executor,
        window: int,
        stop_after: Callable[[Page], bool] | None = None,
        budget: PageBudget | None = None,
        already_yielded: SeenKeys | None = None,
        on_page_size: Callable[[str, int, int], None] | None = None,
        last_page_hint: int | None = None,
    ):
        """`limit` is the page size asked for; the server's own (`page_size`) is learnt
        from page 1. `already_yielded`: keys another read of this endpoint yielded (they
        are not yielded again). `on_page_size(resource, asked, served)` hears when the
        server's page size differs from the one asked for. `last_page_hint`: the number
        of the last page when this endpoint was last read (`last_page`), read first."""
        self.resource, self.limit, self.fetch = resource, limit, fetch
        self.page_size = limit
        self.executor, self.window = executor, max(window, 1)
        self.budget = budget if budget is not None else PageBudget(self.window)
        self.stop_after = stop_after
        self.on_page_size = on_page_size
        self.passes = 0
        self.stopped_early = False
        self._already_yielded = already_yielded
        self.seen = already_yielded or SeenKeys()
        self._last_page_hint = last_page_hint
        self._last_read_first = False  # this pass read the last page before page 1
        self.totals_seen: set = set()  # every total the passes' pages gave

    @property
    def last_page(self) -> int | None:
        """The number of the last page, by the largest total and page size seen (None
        without a total): the hint for the next read of this endpoint."""
        if not self.totals_seen:
            return None
        return max(math.ceil(max(self.totals_seen) / self.page_size), 1)

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        return blocking(self.steps())

    def steps(self) -> Generator[list[dict[str, Any]] | Waiting, None, None]:
        """The rows of each page not yielded before, and a `Waiting` wherever the next
        page is not fetched yet (pmcrm.waits: the caller waits, in a thread or not)."""
        # The key of every row yielded (ids, for deletions).
        seen = self.seen = self._already_yielded or SeenKeys()
        totals_seen = self.totals_seen = set()
        settle = False
        while True:
            self.passes += 1
            # In a first pass from nothing every key is new to `seen`: one set serves both (memory).
            fresh_start = self.passes == 1 and self._already_yielded is None
            current = _Pass(keys=seen if fresh_start else set())
            pages = self._settle_pages(max(totals_seen)) if settle else self._pages()
            for page in pages:
                if type(page) is Waiting:
                    yield page
                    continue
                # Nothing bound across the yield: a suspended reader (there are dozens)
                # must not keep a page alive - parsed pages are most of a sync's memory.
                fresh = [self._fresh(page, seen, current)]
                stop = self.stop_after is not None and self.stop_after(page)
                del page
                if current.repeated_page is not None:
                    raise IncompleteReadError(
                        f"resource '{self.resource}', page {current.repeated_page}: the API returned "
                        "the same rows as for page 1 (it seems to ignore 'page'); stopping"
                    )
                if fresh[0]:
                    yield fresh.pop()
                if stop:
                    self.stopped_early = True  # the caller asked for a partial read
                    return
            totals_seen |= current.totals
            if not current.totals or (settle and current.settled()):
                return
            if not settle and current.consistent():
                if current.last_page is None or self.stop_after is not None or not current.in_id_order():
                    return  # one page (one snapshot), or an order without a proof (docstring)
                if (yield from self._still_since_last_page(current, seen)):
                    return
            # A settle pass only helps where rows move towards page 1 (see the module
            # docstring); after a settle pass that broke id order, plain passes again.
            settle = not settle and self.stop_after is None and current.in_id_order()
            if self.passes >= MAX_READ_PASSES:
                raise IncompleteReadError(
                    f"resource '{self.resource}': {self._why_not_adding_up(current, totals_seen)} "
                    f"({self.passes} passes; totals seen {sorted(totals_seen)}, rows read "
                    f"{current.rows}, distinct {len(current.keys)}). Refusing a partial load."
                )

    def _why_not_adding_up(self, current: _Pass, totals_seen: set) -> str:
        """The likeliest cause, from what the passes saw: never 'the data kept changing'
        when the total held still."""
        if len(totals_seen) > 1:
            return "the data kept changing while it was read (its total moved)"
        (total,) = totals_seen
        if current.rows > len(current.keys):
            return "the pages repeated rows (the API may ignore 'page' or sort unstably)"
        if current.rows < total:
            return (f"the pages held fewer rows than the API's total of {total}, at "
                    f"{self.page_size} rows per page (its total may count something else, or "
                    "pages were shorter than it said)")
        return f"the pages held more rows than the API's total of {total} (its total may be wrong)"

    def _fresh(self, page: Page, seen: SeenKeys, current: _Pass | None = None) -> list[dict[str, Any]]:
        """The rows of `page` not yielded before; counts the page into `current`."""
        ids = [item.get("id") for item in page.items]
        ascending = ascending_int64(ids)
        if current is not None:
            current.add(page, ids, ascending)
        if ascending and seen.add_new_ascending(ids):
            # Fast path (a first pass in id order): every row is new, no per-row work.
            if current is not None and current.keys is not seen:
                current.keys.update(ids)
            return list(page.items)
        fresh = []
        for item in page.items:
            key = row_key(item)
            if key not in seen:
                seen.add(key)
                fresh.append(item)
            if current is not None and current.keys is not seen:
                current.keys.add(key)
        return fresh

    def _still_since_last_page(self, current: _Pass, seen: SeenKeys) -> Generator[list, None, bool]:
        """Read the last page and page 1 again, after every other page: True if the last
        page did not change since it was first read (so nothing was inserted or deleted
        while pages 2..N were read) and the total held. With 2 pages, page 1 alone: no
        page lies between it and the last, so page 1 unchanged proves that no row crossed
        the boundary while page 2 was read (an insert or delete on page 1 changes page 1;
        one on page 2 is in what page 2 showed). When the last page was read before page 1
        (a hint), the last page alone: page 1 already lies between its two reads. Rows new
        on a page read again are yielded."""
        number, ids = current.last_page
        numbers = (number,) if self._last_read_first else (1,) if number == 2 else (number, 1)
        again = [self.executor.submit(self.fetch, n) for n in numbers]
        pages = []
        for future in again:
            pages.append((yield from result_of(future)))
        for page in pages:
            fresh = self._fresh(page, seen)
            if fresh:
                yield fresh
        unchanged = (tuple(map(row_key, pages[0].items)) == current.first_page if numbers == (1,)
                     else page_ids(pages[0]) == ids)
        return unchanged and {page.total for page in pages} == current.totals

    def _fetch_in_pool(self, number: int) -> Generator[Waiting, None, Page]:
        """One page, through the shared pool: every request counts against its size."""
        return (yield from result_of(self.executor.submit(self.fetch, number)))

    def _pages(self) -> Iterator[Page | Waiting]:
        # Pages are handed over from a list, never held in a name across a yield (memory).
        early = yield from self._hinted_last_page()
        self._last_read_first = False
        held = [(yield from self._fetch_in_pool(1))]
        total = held[0].total
        if total is None:
            yield held[0]
            yield from self._pages_without_total(held.pop())
            return
        self._learn_page_size(held[0])
        last = math.ceil(total / self.page_size)
        # The hinted page proves the read only if it is this read's last page, as page 1 sees it.
        self._last_read_first = early is not None and early.number == last and early.total == total
        if not self._last_read_first:
            early = None
        yield held.pop()
        # Read alone, before pages 2..N-1 (see _still_since_last_page); yielded in order.
        # Not when the caller may stop early: it wants the fewest pages, not a proof.
        last_read = last > 1 and self.stop_after is None
        if last_read:
            held.append(early or (yield from self._fetch_in_pool(last)))
        del early
        end = last - 1 if last_read else last
        pending: deque[tuple[Future, bool]] = deque()  # (page, paid from the budget)
        next_page = 2
        try:
            while pending or next_page <= end:
                while next_page <= end and len(pending) < self.window:
                    paid = bool(pending)  # the next page is free, read-ahead is paid
                    if paid and not self.budget.take():
                        break
                    pending.append((self.executor.submit(self.fetch, next_page), paid))
                    next_page += 1
                paid = pending[0][1]
                try:
                    if not pending[0][0].done():
                        yield Waiting(pending[0][0])
                    yield pending.popleft()[0].result()  # no name keeps the future (its page)
                finally:
                    if paid:
                        self.budget.give()
        finally:
            for future, paid in pending:
                future.cancel()
                if paid:
                    self.budget.give()
        if held:
            yield held.pop()

    def _hinted_last_page(self) -> Generator[Waiting, None, Page | None]:
        """The last page as the previous read found it, read before page 1 (first pass
        only, 3 pages or more: with 2, page 1 read again is already the one extra read).
        Any API error on it (a page past the end may be one) just drops the hint."""
        hint, self._last_page_hint = self._last_page_hint, None
        if hint is None or hint < 3 or self.stop_after is not None:
            return None
        try:
            return (yield from self._fetch_in_pool(hint))
        except ApiError:
            return None

    def _settle_pages(self, largest_total: int) -> Iterator[Page | Waiting]:
        """Every page, one at a time, from the last to the first. Why sequential: the
        guarantee needs each page read after the one above it (a row can then only move
        onto a page still to be read); concurrent requests may be served in any order."""
        for number in range(max(math.ceil(largest_total / self.page_size), 1), 0, -1):
            yield (yield from self._fetch_in_pool(number))

    def _learn_page_size(self, first: Page) -> None:
        """The server's page size, from page 1 (`served_page_size`); the pages are planned with it."""
        served = served_page_size(first, self.page_size)
        if served is None or served == self.page_size:
            return
        self.page_size = served
        if self.on_page_size is not None:
            self.on_page_size(self.resource, self.limit, served)

    def _pages_without_total(self, first: Page) -> Iterator[Page | Waiting]:
        """No total: read on until an empty page or one shorter than page 1 (whose size is
        the server's page size, whatever was asked), guarding against an API that ignores
        `page` (the same rows again) and against endless paging."""
        previous = first
        number = 1
        size = len(first.items)
        while previous.items and len(previous.items) >= size:
            number += 1
            if number > MAX_PAGES_WITHOUT_TOTAL:
                raise IncompleteReadError(
                    f"resource '{self.resource}': no 'total' and still rows after "
                    f"{MAX_PAGES_WITHOUT_TOTAL} pages; stopping"
                )
            page = yield from self._fetch_in_pool(number)
            if page.items and [row_key(i) for i in page.items] == [row_key(i) for i in previous.items]:
                raise IncompleteReadError(
                    f"resource '{self.resource}', page {number}: the API returned the same rows "
                    "as the page before (it seems to ignore 'page'); stopping"
                )
            yield page
            previous = page
