"""The base URL a user pastes - the platform docs' form, a bare host, with or without /api,
/v1 and the module segment, even a whole endpoint URL - becomes the URLs pmcrm calls."""

import pytest

from pmcrm.errors import SettingsError
from pmcrm.source import endpoint_tails
from pmcrm.urls import ApiLocation, candidate_locations

HOST = "https://acme.example.com"


def forms(base_url, prefix=""):
    return [location.url("/v1/task/tasks/list") for location in candidate_locations(base_url, prefix, endpoint_tails())]


def test_the_platform_docs_form_is_taken_exactly():
    assert forms(f"{HOST}/api/v1/module") == [f"{HOST}/api/v1/module/task/tasks/list"]
    assert forms(f"{HOST}/api/v1/module/") == [f"{HOST}/api/v1/module/task/tasks/list"]


def test_a_pasted_endpoint_url_is_cut_back_to_its_base():
    assert forms(f"{HOST}/api/v1/module/crm/lead/list") == [f"{HOST}/api/v1/module/task/tasks/list"]


def test_a_bare_host_tries_the_spec_form_first_then_the_platform_forms():
    assert forms(HOST) == [
        f"{HOST}/v1/task/tasks/list",
        f"{HOST}/v1/module/task/tasks/list",
        f"{HOST}/api/v1/task/tasks/list",
        f"{HOST}/api/v1/module/task/tasks/list",
    ]


def test_a_base_ending_in_api_or_v1_leaves_only_the_module_segment_open():
    assert forms(f"{HOST}/api") == [f"{HOST}/api/v1/task/tasks/list", f"{HOST}/api/v1/module/task/tasks/list"]
    assert forms(f"{HOST}/api/v1") == [f"{HOST}/api/v1/task/tasks/list", f"{HOST}/api/v1/module/task/tasks/list"]


def test_an_explicit_path_prefix_is_never_second_guessed():
    assert forms(HOST, "acme") == [f"{HOST}/v1/acme/task/tasks/list", f"{HOST}/api/v1/acme/task/tasks/list"]
    assert forms(f"{HOST}/api/v1", "/acme/") == [f"{HOST}/api/v1/acme/task/tasks/list"]


def test_the_base_url_to_paste_next_time_is_the_docs_form():
    assert ApiLocation(f"{HOST}/api", "module").base_url == f"{HOST}/api/v1/module"
    assert ApiLocation(HOST).base_url == f"{HOST}/v1"


@pytest.mark.parametrize("bad", ["127.0.0.1:8080", "acme.example.com/api/v1/module", "ftp://acme.example.com", "http://"])
def test_a_base_url_without_http_scheme_is_a_settings_error_that_says_how_to_fix_it(bad):
    with pytest.raises(SettingsError, match="add http:// or https://") as raised:
        candidate_locations(bad)
    assert raised.value.exit_code == 2
