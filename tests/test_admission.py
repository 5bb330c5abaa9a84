"""How many resources read at once (pmcrm.admission): two while the CPU has work, twice as
many each time every reader has waited for its pages; and the reads that wait without
holding a thread (pmcrm.waits)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from pmcrm import source
from pmcrm.admission import FIRST, Admission
from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.waits import awaiting, blocking, result_of
from tests.helpers import sync_request
from tests.truth import assert_table_equals_truth

STARVED = 0.01


class Readers:
    """`count` readers queued at one admission, each finishing when told."""

    def __init__(self, count: int, most: int = 16):
        self.admission = Admission(most=most, starved_after=STARVED)
        self.admitted: list[int] = []
        self._finish = [asyncio.Event() for _ in range(count)]
        self.tasks = [asyncio.create_task(self._read(n)) for n in range(count)]

    async def _read(self, n: int) -> None:
        async with self.admission:
            self.admitted.append(n)
            await self._finish[n].wait()

    async def queued(self) -> Readers:
        await asyncio.sleep(0)
        return self

    def all_wait_for_pages(self) -> None:
        for _ in range(self.admission.reading):
            self.admission.waiting_for_pages()

    def finish(self, n: int) -> None:
        self._finish[n].set()

    async def finish_all(self) -> None:
        for finish in self._finish:
            finish.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        assert self.admission.reading == 0


def run(scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_two_resources_read_at_once_while_none_waits_for_pages():
    async def scenario():
        readers = await Readers(5).queued()
        await asyncio.sleep(STARVED * 5)
        assert readers.admitted == [0, 1] and FIRST == 2
        readers.finish(0)
        await asyncio.sleep(STARVED)
        assert readers.admitted == [0, 1, 2], "a finished read lets the next one in"
        await readers.finish_all()

    run(scenario)


def test_when_every_reader_has_waited_for_pages_twice_as_many_read():
    async def scenario():
        readers = await Readers(10).queued()
        readers.all_wait_for_pages()
        await asyncio.sleep(STARVED * 3)
        assert readers.admission.allowed == 4 and readers.admitted == [0, 1, 2, 3]
        await readers.finish_all()

    run(scenario)


def test_a_page_that_comes_in_time_or_a_reader_with_work_admits_nobody():
    async def scenario():
        readers = await Readers(5).queued()
        readers.all_wait_for_pages()
        readers.admission.got_pages()  # within STARVED: the CPU had work after all
        await asyncio.sleep(STARVED * 3)  # one still waits, the other works on its page
        assert readers.admission.allowed == FIRST and readers.admitted == [0, 1]
        await readers.finish_all()

    run(scenario)


def test_never_more_readers_than_most_and_a_reader_cancelled_in_the_queue_takes_no_place():
    async def scenario():
        readers = await Readers(6, most=3).queued()
        readers.tasks[2].cancel()
        readers.all_wait_for_pages()
        await asyncio.sleep(STARVED * 10)
        assert readers.admission.allowed == 3 and readers.admitted == [0, 1, 3]
        assert readers.admission.reading == 3
        await readers.finish_all()

    run(scenario)


def a_reader_of(future: Future, caught: list):
    """A reader that waits for `future` and handles its error itself, then yields one item."""
    try:
        yield (yield from result_of(future))
    except ValueError as exc:
        caught.append(str(exc))
        yield "handled"
    finally:
        caught.append("closed")


def failing_later(pool: ThreadPoolExecutor) -> Future:
    def fail():
        import time

        time.sleep(0.05)
        raise ValueError("page 3 failed")

    return pool.submit(fail)


def test_a_blocking_read_waits_and_the_reader_handles_its_own_errors():
    caught: list = []
    with ThreadPoolExecutor(1) as pool:
        assert list(blocking(a_reader_of(failing_later(pool), caught))) == ["handled"]
    assert caught == ["page 3 failed", "closed"]


def test_an_awaited_read_waits_on_the_loop_and_the_reader_handles_its_own_errors():
    caught: list = []

    async def scenario():
        with ThreadPoolExecutor(1) as pool:
            return [item async for item in awaiting(a_reader_of(failing_later(pool), caught))]

    assert asyncio.run(scenario()) == ["handled"]
    assert caught == ["page 3 failed", "closed"]


def test_an_awaited_read_cancelled_while_waiting_closes_its_reader():
    caught: list = []

    async def scenario():
        never: Future = Future()
        reading = asyncio.create_task(anext(awaiting(a_reader_of(never, caught))))
        await asyncio.sleep(0.01)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading

    asyncio.run(scenario())
    assert caught == ["closed"]


class CountingAdmission(Admission):
    most_reading = 0

    async def __aenter__(self):
        entered = await super().__aenter__()
        CountingAdmission.most_reading = max(CountingAdmission.most_reading, self.reading)
        return entered


def test_on_a_slow_network_more_resources_read_at_once_and_every_row_arrives(tmp_path, monkeypatch):
    monkeypatch.setattr(source, "Admission", CountingAdmission)
    CountingAdmission.most_reading = 0
    with Sandbox(SandboxOptions(seed=5, rows=150, latency=0.05)) as slow_api:
        request = sync_request(slow_api, tmp_path)
        result = run_sync(request)
        assert result.ok, result.error
        for name in ("tasks", "lead", "invoice"):
            assert_table_equals_truth(make_pipeline(request), name, slow_api.truth(name))
    assert CountingAdmission.most_reading >= 8, CountingAdmission.most_reading


def test_a_smaller_extract_slot_count_in_the_users_config_does_not_hang_a_sync(sandbox, tmp_path, monkeypatch):
    # Resources waiting for their turn hold dlt's extract slots: with 5 for 36 resources
    # the reader whose turn it was found none free, for ever (load_settings.EXTRACT_SLOTS).
    monkeypatch.setenv("EXTRACT__MAX_PARALLEL_ITEMS", "5")
    request = sync_request(sandbox, tmp_path)
    outcome = {}
    syncing = threading.Thread(target=lambda: outcome.update(result=run_sync(request)), daemon=True)
    syncing.start()
    syncing.join(timeout=120)
    assert not syncing.is_alive(), "the sync hung"
    assert outcome["result"].ok, outcome["result"].error
    for name in ("tasks", "lead", "pipeline"):
        assert_table_equals_truth(make_pipeline(request), name, sandbox.truth(name))
