"""The page size is the server's: a server that caps it, or reads another parameter,
is still read completely, with pages planned from what page 1 shows."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from pmcrm.client import Page
from pmcrm.errors import IncompleteReadError
from pmcrm.pages import EndpointReader


class CappedEndpoint:
    """Serves `served` rows a page whatever is asked; records the pages asked for."""

    def __init__(self, n_rows, served, send_total=True):
        self.rows = [{"id": i} for i in range(1, n_rows + 1)]
        self.served, self.send_total = served, send_total
        self.requested = []

    def __call__(self, number):
        self.requested.append(number)
        items = self.rows[(number - 1) * self.served: number * self.served]
        return Page(number, len(self.rows) if self.send_total else None, items)


def read(endpoint, asked=100):
    heard = []
    with ThreadPoolExecutor(4) as pool:
        reader = EndpointReader("tasks", asked, endpoint, pool, 4, on_page_size=lambda *args: heard.append(args))
        ids = [row["id"] for page in reader for row in page]
    return ids, heard


def test_a_server_that_caps_pages_at_50_is_read_completely_in_pages_of_50():
    endpoint = CappedEndpoint(230, served=50)
    ids, heard = read(endpoint)
    assert ids == list(range(1, 231))
    # 5 pages of 50, plus page 1 and the last page once more (the no-movement check).
    assert sorted(endpoint.requested) == [1, 1, 2, 3, 4, 5, 5]
    assert heard == [("tasks", 100, 50)]


def test_a_server_that_sends_larger_pages_than_asked_is_not_read_twice():
    endpoint = CappedEndpoint(300, served=200)
    ids, heard = read(endpoint)
    assert ids == list(range(1, 301))
    assert sorted(endpoint.requested) == [1, 1, 2], "2 pages: page 1 read again is the whole check"
    assert heard == [("tasks", 100, 200)]


def test_a_short_only_page_is_not_mistaken_for_a_cap():
    endpoint = CappedEndpoint(30, served=50)
    ids, heard = read(endpoint)
    assert ids == list(range(1, 31)) and endpoint.requested == [1] and heard == []


def test_without_a_total_a_capped_server_is_read_until_an_empty_or_shorter_page():
    endpoint = CappedEndpoint(120, served=50, send_total=False)
    ids, _ = read(endpoint)
    assert ids == list(range(1, 121)) and endpoint.requested == [1, 2, 3]


def test_without_a_total_a_short_first_page_costs_one_more_request_not_a_lost_page():
    endpoint = CappedEndpoint(30, served=50, send_total=False)
    ids, _ = read(endpoint)
    assert ids == list(range(1, 31)) and endpoint.requested == [1, 2]


def test_an_api_that_ignores_page_fails_at_page_2_saying_so():
    def always_page_one(number):
        return Page(number, 300, [{"id": 5}, {"id": 3}])

    with ThreadPoolExecutor(2) as pool, pytest.raises(IncompleteReadError, match="ignore 'page'"):
        list(EndpointReader("tasks", 100, always_page_one, pool, 2))


def test_rows_that_never_add_up_name_the_cause_not_moving_data():
    # 250 rows that hold still, a total of 400 that the pages never reach.
    rows = [{"id": i} for i in range(1, 251)]

    def overstated(number):
        return Page(number, 400, rows[(number - 1) * 100: number * 100])

    with ThreadPoolExecutor(2) as pool, pytest.raises(IncompleteReadError) as raised:
        list(EndpointReader("tasks", 100, overstated, pool, 2))
    message = str(raised.value)
    assert "fewer rows than the API's total of 400" in message and "kept changing" not in message
