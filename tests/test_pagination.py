"""Paging rules: page from 1, limit = page size, stop at `total`, never loop forever,
and never load a silent gap when the data moves while it is read."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from pmcrm.client import Page
from pmcrm.errors import IncompleteReadError
from pmcrm.pages import EndpointReader


class FakeEndpoint:
    """An in-memory list endpoint that records the pages asked for."""

    def __init__(self, rows, limit, send_total=True):
        self.rows, self.limit, self.send_total = rows, limit, send_total
        self.requested: list[int] = []
        self.before_page = {}

    def __call__(self, number):
        self.requested.append(number)
        if number in self.before_page:
            self.before_page.pop(number)(self.rows)
        items = self.rows[(number - 1) * self.limit : number * self.limit]
        return Page(number, len(self.rows) if self.send_total else None, [dict(r) for r in items])


def rows(n, start=1):
    return [{"id": i} for i in range(start, start + n)]


def read(endpoint, window=4):
    with ThreadPoolExecutor(4) as pool:
        reader = EndpointReader("tasks", endpoint.limit, endpoint, pool, window)
        return [row["id"] for page in reader for row in page], reader


@pytest.mark.parametrize(
    "n_rows, expected_pages",
    # Several pages: page 1 and the last page are read once more at the end, the proof
    # that no row moved while the others were read (pmcrm.pages, _still_since_last_page);
    # with two pages nothing lies between them, and page 1 again is the whole proof.
    [(0, [1]), (1, [1]), (100, [1]), (200, [1, 1, 2]), (300, [1, 1, 2, 3, 3]), (301, [1, 1, 2, 3, 4, 4])],
    ids=["empty", "one row", "exactly one page", "two pages", "exact multiple", "short last page"],
)
def test_reads_every_row_with_the_fewest_requests(n_rows, expected_pages):
    endpoint = FakeEndpoint(rows(n_rows), limit=100)
    ids, _ = read(endpoint)
    assert ids == list(range(1, n_rows + 1))
    assert sorted(endpoint.requested) == expected_pages


def test_without_total_it_reads_until_a_short_page():
    endpoint = FakeEndpoint(rows(250), limit=100, send_total=False)
    ids, _ = read(endpoint)
    assert ids == list(range(1, 251))
    assert endpoint.requested == [1, 2, 3]


def test_without_total_an_exact_multiple_ends_on_the_empty_page():
    endpoint = FakeEndpoint(rows(200), limit=100, send_total=False)
    ids, _ = read(endpoint)
    assert len(ids) == 200 and endpoint.requested == [1, 2, 3]


def test_an_api_that_ignores_page_is_stopped_not_looped():
    def same_page(number):
        return Page(number, None, [{"id": i} for i in range(1, 101)])

    with ThreadPoolExecutor(1) as pool, pytest.raises(IncompleteReadError, match="same rows"):
        list(EndpointReader("tasks", 100, same_page, pool, 1))


def test_a_delete_between_pages_triggers_a_re_read_and_no_row_is_missed():
    endpoint = FakeEndpoint(rows(300), limit=100)
    endpoint.before_page[3] = lambda data: data.pop(0)  # row 1 deleted: row 201 shifts to page 2
    ids, reader = read(endpoint, window=1)
    assert set(range(2, 301)) <= set(ids), "every row that existed the whole time is read"
    assert len(ids) == len(set(ids)), "no row is yielded twice"
    assert reader.passes == 2


def test_with_two_pages_a_delete_on_page_1_hidden_by_an_insert_is_caught_by_page_1_read_again():
    endpoint = FakeEndpoint(rows(200), limit=100)

    def delete_first_and_append(data):  # the total stays 200; row 101 moves onto page 1
        data.pop(0)
        data.append({"id": 201})

    endpoint.before_page[2] = delete_first_and_append
    ids, reader = read(endpoint, window=1)
    assert set(range(2, 202)) <= set(ids), "row 101, now on page 1, is not lost"
    assert len(ids) == len(set(ids)), "no row is yielded twice"
    assert reader.passes == 2


def test_an_insert_between_pages_is_read_and_not_duplicated():
    endpoint = FakeEndpoint(rows(200), limit=100)
    endpoint.before_page[2] = lambda data: data.insert(0, {"id": 0})  # shifts row 100 onto page 2
    ids, reader = read(endpoint, window=1)
    assert sorted(ids) == list(range(201))
    assert reader.passes == 2


def test_data_that_never_settles_fails_loudly():
    served = []

    def restless(number):
        served.append(number)
        return Page(number, 3 + len(served) % 2, [{"id": len(served)}])  # total flips each page

    with ThreadPoolExecutor(1) as pool, pytest.raises(IncompleteReadError, match="kept changing"):
        list(EndpointReader("tasks", 1, restless, pool, 1))


def test_rows_without_id_are_told_apart_by_content():
    data = [{"id": None, "name": "a"}, {"id": None, "name": "b"}, {"id": 5, "name": "c"}]
    endpoint = FakeEndpoint(data, limit=50)
    with ThreadPoolExecutor(1) as pool:
        pages = list(EndpointReader("pipeline", 50, endpoint, pool, 1))
    assert [r["name"] for p in pages for r in p] == ["a", "b", "c"]
