"""Every answer shape seen from the real platform is read as what it is: rows with their
total (under either name), or an error with its text - never data, never a crash."""

import pytest

from pmcrm.envelope import NotAListing, read_error, read_listing, says_rate_limited


@pytest.mark.parametrize("key", ["total", "total_result"])
def test_the_row_count_is_read_under_either_name(key):
    listing = read_listing({"response": {key: 250, "page": 1, "count": 2, "items": [{"id": 1}, {"id": 2}]}})
    assert listing.total == 250 and listing.items == [{"id": 1}, {"id": 2}]


def test_a_total_sent_as_digits_is_a_number_and_a_missing_total_is_none():
    assert read_listing({"response": {"total": "7", "items": []}}).total == 7
    assert read_listing({"response": {"items": []}}).total is None


@pytest.mark.parametrize("body", [{"response": {"items": "x"}}, {"response": {"items": [1, 2]}}, {"data": []}, []])
def test_a_body_without_a_list_of_rows_is_not_a_listing(body):
    with pytest.raises(NotAListing):
        read_listing(body)


def test_the_documented_envelope_gives_code_and_message():
    error = read_error({"error": {"error_code": 22, "error_msg": "Access denied"}})
    assert (error.code, error.message, error.rate_limited) == (22, "Access denied", False)


@pytest.mark.parametrize(
    "word, code",
    [("authorization_failed", 11), ("access_denied", 22), ("unknown_method", 30), ("unknown_module", 31),
     ("internal_error", 13), ("validation", 21), ("invalid_request", 12), ("not_found", 20)],
)
def test_an_error_given_as_a_word_keeps_its_text_and_gets_the_code_it_means(word, code):
    error = read_error({"error": word, "description": "details here", "details": {"field": "x"}})
    assert error.code == code
    assert error.message == f"{word}: details here"


def test_an_unknown_word_is_still_an_error_with_no_code():
    error = read_error({"error": "teapot", "description": "short and stout"})
    assert error.code is None and error.message == "teapot: short and stout"


def test_a_body_without_error_carries_none():
    assert read_error({"response": {"items": []}}) is None
    assert read_error({"error": None, "response": {"items": []}}) is None


@pytest.mark.parametrize("status", [200, 400, 403, 503])
def test_any_status_whose_body_says_the_rate_was_exceeded_is_a_rate_limit(status):
    assert says_rate_limited(status, {"error": "Request rate per second exceeded"})


def test_429_is_a_rate_limit_whatever_the_body_and_other_errors_are_not():
    assert says_rate_limited(429, None)
    assert not says_rate_limited(200, {"error": {"error_code": 13, "error_msg": "Internal error"}})
    assert not says_rate_limited(500, None)
