"""Reading every row of one list endpoint: page planning, parallel pages, consistency.

Why by hand and not dlt's PageNumberPaginator: that paginator reads `total` as a number
of pages (ours counts rows), raises on a missing total (dlt-hub/dlt#4429), cannot fetch
pages in parallel (dlt-hub/dlt#2844) and cannot notice rows shifting between pages.

The first page gives `total`, so pages 2..N are known and fetched concurrently on a shared
pool, yielded in order. Page-number paging over data that changes while it is read skips
rows (a delete shifts later rows onto an earlier page) and repeats others. Every page
carries `total`; if it moved during the read, or the rows do not add up, the endpoint is
read again, rows already seen are skipped, and only a pass that is itself consistent ends
the read. Otherwise the read fails loudly rather than load a silent gap.
"""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import orjson

from pmcrm.client import Page
from pmcrm.errors import IncompleteReadError

FetchPage = Callable[[int], Page]
# Without a total, stop after this many pages rather than loop forever.
MAX_PAGES_WITHOUT_TOTAL = 100_000
MAX_READ_PASSES = 4


def row_key(item: dict[str, Any]) -> Any:
    """Identity of a row for de-duplication: its id, or its whole content if id is null."""
    row_id = item.get("id")
    return row_id if row_id is not None else orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


@dataclass
class _Pass:
    totals: set = field(default_factory=set)
    keys: set = field(default_factory=set)
    rows: int = 0

    def consistent(self) -> bool:
        (total,) = self.totals if len(self.totals) == 1 else (None,)
        return total is not None and self.rows == total == len(self.keys)


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
    ):
        self.resource, self.limit, self.fetch = resource, limit, fetch
        self.executor, self.window = executor, max(window, 1)
        self.stop_after = stop_after
        self.passes = 0
        self.stopped_early = False

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        seen: set = set()
        while True:
            self.passes += 1
            current = _Pass()
            for page in self._pages():
                current.rows += len(page.items)
                fresh = []
                for item in page.items:
                    key = row_key(item)
                    current.keys.add(key)
                    if key not in seen:
                        seen.add(key)
                        fresh.append(item)
                if page.total is not None:
                    current.totals.add(page.total)
                if fresh:
                    yield fresh
                if self.stop_after is not None and self.stop_after(page):
                    self.stopped_early = True  # the caller asked for a partial read
                    return
            if not current.totals or current.consistent():
                return
            if self.passes >= MAX_READ_PASSES:
                raise IncompleteReadError(
                    f"resource '{self.resource}': the data kept changing while it was read "
                    f"({self.passes} passes; totals seen {sorted(current.totals)}, rows read "
                    f"{current.rows}, distinct {len(current.keys)}). Refusing a partial load."
                )

    def _pages(self) -> Iterator[Page]:
        first = self.fetch(1)
        yield first
        if first.total is None:
            yield from self._pages_without_total(first)
            return
        last = math.ceil(first.total / self.limit)
        pending: deque[Future] = deque()
        next_page = 2
        try:
            while pending or next_page <= last:
                while next_page <= last and len(pending) < self.window:
                    pending.append(self.executor.submit(self.fetch, next_page))
                    next_page += 1
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def _pages_without_total(self, first: Page) -> Iterator[Page]:
        """No total: read on until a short or empty page, guarding against an API that
        ignores `page` (the same rows again) and against endless paging."""
        previous = first
        number = 1
        while len(previous.items) >= self.limit:
            number += 1
            if number > MAX_PAGES_WITHOUT_TOTAL:
                raise IncompleteReadError(
                    f"resource '{self.resource}': no 'total' and still rows after "
                    f"{MAX_PAGES_WITHOUT_TOTAL} pages; stopping"
                )
            page = self.fetch(number)
            if page.items and [row_key(i) for i in page.items] == [row_key(i) for i in previous.items]:
                raise IncompleteReadError(
                    f"resource '{self.resource}', page {number}: the API returned the same rows "
                    "as the page before (it seems to ignore 'page'); stopping"
                )
            yield page
            previous = page
