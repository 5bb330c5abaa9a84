"""`pmcrm check` is a diagnosis: the URL it calls (key masked), whether the key works,
each resource's availability, rows and the page size the server really serves, and the
flags worth setting - with exit codes a script can act on."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pmcrm.cli import main
from pmcrm.diagnose import diagnose
from pmcrm.sandbox import Sandbox, SandboxOptions

KEY = "check-key-2024"


def check(*args):
    return CliRunner().invoke(main, ["check", *args], env={"COLUMNS": "200"}, catch_exceptions=False)


def api(**switches) -> Sandbox:
    return Sandbox(SandboxOptions(seed=2, rows=30, rows_per_resource={"tasks": 120}, api_key=KEY, **switches))


def test_a_good_key_on_a_plain_api_says_ok_and_lists_every_resource_as_available():
    with api() as sandbox:
        result = check("--base-url", sandbox.base_url, "--api-key", KEY)
        base_url = sandbox.base_url
    assert result.exit_code == 0, result.output
    assert f"called: {base_url}/v1/task/tasks/list?api_key=***&page=1&limit=100" in result.output
    assert "API key: accepted" in result.output and "36 of 36 resources readable" in result.output
    assert "OK: the API answers at" in result.output and KEY not in result.output


def test_the_diagnosis_names_what_the_key_cannot_read_and_what_the_server_does_differently():
    with api(url_form="platform", max_page_size=40, unavailable={"invoice": 22, "lead": 31, "calendar": 30}) as sandbox:
        found = diagnose(sandbox.base_url, KEY)
        base_url = sandbox.base_url
    statuses = {c.resource: c.status for c in found.resources}
    assert (statuses["invoice"], statuses["lead"], statuses["calendar"]) == (
        "no access", "module not enabled", "no access or module off")
    assert sum(status == "available" for status in statuses.values()) == 33
    tasks = next(c for c in found.resources if c.resource == "tasks")
    assert (tasks.rows, tasks.page_size) == (120, 40)
    assert found.url_called == f"{base_url}/api/v1/module/task/tasks/list?api_key=***&page=1&limit=100"
    assert found.recommendations[0].startswith(f"--base-url {base_url}/api/v1/module")
    assert any(r.startswith("page size: the API serves 40 rows per page where 100") for r in found.recommendations)
    assert found.exit_code == 0


def test_json_output_is_one_document_for_machines():
    with api(unavailable={"invoice": 22}) as sandbox:
        result = check("--base-url", sandbox.base_url, "--api-key", KEY, "--json", "--resources", "tasks,invoice")
    document = json.loads(result.output)
    assert result.exit_code == 0 and document["exit_code"] == 0 and document["key_accepted"] is True
    assert [(r["resource"], r["status"]) for r in document["resources"]] == [("tasks", "available"),
                                                                             ("invoice", "no access")]


def test_a_refused_key_exits_2_and_says_so():
    with api() as sandbox:
        result = check("--base-url", sandbox.base_url, "--api-key", "wrong-key-42")
        served = sandbox.stats()["requests"]
    assert result.exit_code == 2 and "API key: refused" in result.output
    assert "authorization failed" in result.output and "Check the API key" in result.output
    assert "wrong-key-42" not in result.output and served == 1, "one request, then it stops"


def test_a_rate_limited_check_recommends_a_rate_limit():
    with api(rate_limit=8, rate_limit_status=403, rate_limit_body="string", retry_after=False) as sandbox:
        found = diagnose(sandbox.base_url, KEY)
    assert found.exit_code == 0
    assert any(r.startswith("--rate-limit ") for r in found.recommendations), found.recommendations


def test_a_wrong_url_gets_a_hint_about_its_shape_and_exit_1():
    with api(url_form="platform") as sandbox:
        result = check("--base-url", sandbox.base_url + "/rest", "--api-key", KEY)
    assert result.exit_code == 1 and "the base URL is probably not the API's" in result.output


def test_nothing_answering_fails_clearly_without_showing_the_key():
    result = check("--base-url", "http://127.0.0.1:9", "--api-key", "k-123456")
    assert result.exit_code == 1 and "check failed: no resource answered" in result.output
    assert "k-123456" not in result.output


def test_a_url_without_scheme_is_a_settings_error_before_any_request():
    result = check("--base-url", "127.0.0.1:8080", "--api-key", KEY)
    assert result.exit_code == 2 and "add http:// or https://" in result.output
