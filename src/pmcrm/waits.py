"""A read that waits for its pages without holding a thread while it waits.

Why: as plain generators on dlt's extract threads, the resources read at once were as
many as the threads, fixed when the run starts; a fast API wanted few (they compete for
the CPU), a slow one many (each waits on the network). dlt runs async generator
resources on one event loop, where a waiting read costs no thread, so how many read at
once can follow the API as it answers (pmcrm.admission).

A reader's generator yields `Waiting(future)` where it would have blocked, and goes on
when sent nothing once the future is done: it takes the result itself, so its own
`except` clauses see the errors. `blocking` drives such a generator in the calling thread
(the library's plain iterators, tests); `awaiting` drives it on an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Iterator
from concurrent.futures import Future, wait
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pmcrm.admission import Admission


@dataclass(frozen=True, slots=True)
class Waiting:
    """Yielded by a reader that needs `future` done before it can go on."""

    future: Future


Steps = Generator[Any, None, Any]  # items, and a Waiting wherever the reader must wait


def result_of(future: Future) -> Generator[Waiting, None, Any]:
    """`future.result()`, yielding a `Waiting` first if it is not done yet."""
    if not future.done():
        yield Waiting(future)
    return future.result()


def blocking(steps: Steps) -> Iterator[Any]:
    """The items of `steps`, each wait done by blocking this thread."""
    try:
        for step in steps:
            if type(step) is Waiting:
                wait([step.future])
            else:
                yield step
    finally:
        steps.close()


async def awaiting(steps: Steps, admission: Admission | None = None) -> AsyncIterator[Any]:
    """The items of `steps`, each wait done on the running event loop (no thread held),
    read once `admission` lets it (how many resources read at once) and each wait told to
    it. Cancelled or closed, it closes `steps`, whose own cleanup cancels its pending
    pages. No name holds an item while it waits at its yield for dlt to ask for the next
    (see unchanged.handed_over)."""
    async with admission if admission is not None else nullcontext():
        try:
            for step in steps:
                if type(step) is not Waiting:
                    handed = [step]
                    del step
                    yield handed.pop()
                elif admission is None:
                    await until_done(step.future)
                else:
                    admission.waiting_for_pages()
                    try:
                        await until_done(step.future)
                    finally:
                        admission.got_pages()
        finally:
            steps.close()


async def until_done(future: Future) -> None:
    """Wait for `future` without taking its result (its reader takes it)."""
    if future.done():
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def wake(_: Future) -> None:
        try:
            loop.call_soon_threadsafe(_settle, done)
        except RuntimeError:  # the loop closed first: the run is over, nobody waits
            pass

    future.add_done_callback(wake)
    await done


def _settle(done: asyncio.Future) -> None:
    if not done.done():
        done.set_result(None)
