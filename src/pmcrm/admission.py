"""How many resources read at once: as few as keep the CPU busy, more while the API is slow.

Why: on a fast API the read is CPU-bound, and every resource read at once adds its pages,
batches and turns at the GIL: two at a time made a 36 x 20,000 first sync 1.13x faster,
with 22 MB less memory, than ten (dlt's extract threads, before). On a slow API each read
spends most of its time waiting for pages, so one resource after another would leave the
connections idle (ten at once made a 50 ms API 1.12x faster than five). Neither number
fits both, and the latency is not known before the first pages, so the number adapts: it
starts at `first` and doubles each time every resource being read has waited
`starved_after` for its pages (the CPU had nothing to do), up to `most`. It never
shrinks. Measured in benchmarks/README.md ("How many resources read at once").

Runs on the event loop that drives the reads (pmcrm.waits): not thread-safe, and needs
none.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Self

FIRST = 2
STARVED_AFTER = 0.02  # seconds; an answer on loopback takes about 1 ms, one over a network 20+


class Admission:
    """The gate every resource's read passes (`async with admission:`) and the signal
    its waits give (`waiting_for_pages` / `got_pages`)."""

    def __init__(self, most: int, first: int = FIRST, starved_after: float = STARVED_AFTER):
        self.most = max(most, 1)
        self.allowed = min(max(first, 1), self.most)
        self.starved_after = starved_after
        self.reading = 0  # admitted and not finished
        self.waiting = 0  # of those, waiting for a page now
        self._queue: deque[asyncio.Future] = deque()
        self._progress = 0  # counts every page a reader got: a starvation check sees if one came
        self._check_pending = False

    async def __aenter__(self) -> Self:
        if self.reading < self.allowed and not self._queue:
            self.reading += 1
            return self
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.reading -= 1  # admitted, then cancelled before it could read
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.reading -= 1
        self._admit()

    def waiting_for_pages(self) -> None:
        self.waiting += 1
        self._check_later()

    def got_pages(self) -> None:
        self.waiting -= 1
        self._progress += 1

    def _starving(self) -> bool:
        """Every reader waits for pages, and another could read (queued, below `most`)."""
        return self.waiting >= self.reading and bool(self._queue) and self.allowed < self.most

    def _check_later(self) -> None:
        if self._starving() and not self._check_pending:
            self._check_pending = True
            asyncio.get_running_loop().call_later(self.starved_after, self._starved, self._progress)

    def _starved(self, progress_then: int) -> None:
        """If every reader has waited since `progress_then` and none got a page, one more
        reads; checked again while that lasts."""
        self._check_pending = False
        if progress_then == self._progress and self._starving():
            self.allowed = min(self.allowed * 2, self.most)
            self._admit()
        self._check_later()

    def _admit(self) -> None:
        while self._queue and self.reading < self.allowed:
            turn = self._queue.popleft()
            if not turn.done():
                self.reading += 1
                turn.set_result(None)
