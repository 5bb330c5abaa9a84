"""First contact with a real account: every way the platform may differ from the spec
(sandbox switches, README "Connecting to your account") still ends, through `pmcrm sync`,
in tables equal to the API's truth - and what cannot be read is named, with the exit
code the README promises."""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from pmcrm.cli import main
from pmcrm.declarations import RESOURCES
from pmcrm.pipeline import SyncRequest, make_pipeline
from pmcrm.sandbox import Sandbox, SandboxOptions
from tests.truth import assert_table_equals_truth, read_table

SMALL = {"tasks": 130, "lead": 75, "invoice": 40, "pipeline": 12, "st_projects_users": 60}
ALL = {spec.name for spec in RESOURCES}


def small_api(**switches) -> Sandbox:
    return Sandbox(SandboxOptions(seed=5, rows=20, rows_per_resource=SMALL, **switches))


def cli_sync(base_url: str, api_key: str, *extra: str):
    """`pmcrm sync --json` into ./first.duckdb: (exit code, the JSON summary)."""
    args = ["sync", "--base-url", base_url, "--api-key", api_key, "--duckdb-file", "first.duckdb", "--json", *extra]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def pipeline_for(api):
    return make_pipeline(SyncRequest.from_flags(base_url=api.base_url, api_key=api.api_key, duckdb_file="first.duckdb"))


def assert_tables_equal_truth(api, resources) -> None:
    pipeline = pipeline_for(api)
    for name in sorted(resources):
        assert_table_equals_truth(pipeline, name, api.truth(name))


def rows_of(table: str) -> list[tuple]:
    with duckdb.connect("first.duckdb") as db:
        return sorted(db.execute(f"SELECT * FROM pmcrm_data.{table}").fetchall(), key=repr)


@pytest.mark.parametrize(
    "switches, note",
    [
        ({"page_size_param": "count"}, "the API served 50 rows per page where 100 were asked"),
        ({"total_field": "total_result"}, None),
    ],
    ids=["page size read from another parameter", "total_result"],
)
def test_the_servers_paging_is_learnt_and_every_table_equals_the_truth(switches, note):
    with small_api(**switches) as api:
        code, summary = cli_sync(api.base_url, api.api_key)
        assert code == 0 and summary["status"] == "success"
        assert_tables_equal_truth(api, ALL)
    if note:
        assert any(n.startswith(note) for n in summary["notes"]), summary["notes"]
        assert sum(n.startswith("the API served") for n in summary["notes"]) == 1, "said once, not per resource"


def test_a_cap_below_every_declared_page_size_is_said_once_per_size_asked():
    with small_api(max_page_size=30) as api:
        code, summary = cli_sync(api.base_url, api.api_key)
        assert code == 0
        assert_tables_equal_truth(api, ALL)
    said = sorted(n.split(" (")[0] for n in summary["notes"] if n.startswith("the API served"))
    assert said == ["the API served 30 rows per page where 100 were asked",
                    "the API served 30 rows per page where 50 were asked"]


@pytest.mark.parametrize("pasted", ["", "/api", "/api/v1", "/api/v1/module", "/api/v1/module/task/tasks/list"])
def test_any_form_of_the_platforms_url_reaches_the_api(pasted):
    with small_api(url_form="platform") as api:
        code, summary = cli_sync(api.base_url + pasted, api.api_key, "--resources", "tasks,lead,pipeline")
        assert code == 0, summary
        assert_tables_equal_truth(api, {"tasks", "lead", "pipeline"})
        served = api.stats()
    # Probing costs at most one request per wrong form, once for the whole run.
    assert served["requests"] - served["pages"] <= 3


def test_a_url_where_nothing_answers_gets_a_hint_about_its_shape_not_an_api_error():
    with small_api(url_form="platform") as api:
        code, summary = cli_sync(api.base_url + "/rest/v2", api.api_key, "--resources", "tasks,lead")
    assert code == 2 and summary["status"] == "failed"
    assert "the base URL is probably not the API's" in summary["error"]
    assert "/api/v1/module" in summary["error"] and "API error" not in summary["error"]


UNAVAILABLE = {"invoice": 22, "lead": 31, "calendar": 30, "pipeline": 22}


def test_resources_the_key_cannot_read_are_skipped_named_and_their_tables_left_as_they_were():
    with small_api() as api:  # an earlier night: everything readable
        assert cli_sync(api.base_url, api.api_key)[0] == 0
    before = {name: rows_of(name) for name in UNAVAILABLE}
    with small_api(unavailable=UNAVAILABLE) as api:  # same data, rights taken away
        code, summary = cli_sync(api.base_url, api.api_key)
        assert code == 0 and summary["status"] == "success"
        assert_tables_equal_truth(api, ALL - set(UNAVAILABLE))
    assert summary["unavailable"] == {
        "calendar": "not available to this key (error 30: unknown method)",
        "invoice": "no access (error 22: access denied)",
        "lead": "module not enabled (error 31: unknown module)",
        "pipeline": "no access (error 22: access denied)",
    }
    for name in UNAVAILABLE:  # merge tables and a snapshot table alike: not one row touched
        assert rows_of(name) == before[name], name
    # They loaded before: each is called out loudly, naming that load.
    warnings = [n for n in summary["notes"] if n.startswith("WARNING:")]
    assert sorted(w.split()[1] for w in warnings) == sorted(UNAVAILABLE), summary["notes"]
    assert all("was last loaded 20" in w for w in warnings)
    with duckdb.connect("first.duckdb") as db:
        stored = db.execute("SELECT notes, unavailable FROM pmcrm_data._pmcrm_runs ORDER BY finished_at").fetchall()[-1]
    assert json.loads(stored[1]) == summary["unavailable"] and json.loads(stored[0]) == summary["notes"]


def test_on_a_first_sync_an_unavailable_resource_is_named_plainly_and_gets_no_table():
    with small_api(unavailable={"invoice": 31}) as api:
        code, summary = cli_sync(api.base_url, api.api_key)
    assert code == 0
    assert "invoice skipped: module not enabled (error 31: unknown module)" in summary["notes"]
    with duckdb.connect("first.duckdb") as db:
        tables = {row[0] for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "invoice" not in tables and "tasks" in tables


def test_an_unavailable_resource_named_in_resources_fails_the_run_after_loading_the_others():
    with small_api(unavailable={"invoice": 22}) as api:
        code, summary = cli_sync(api.base_url, api.api_key, "--resources", "tasks,invoice")
        assert code == 1 and summary["status"] == "failed"
        assert "invoice: no access (error 22: access denied)" in summary["error"]
        assert_tables_equal_truth(api, {"tasks"})


def test_strict_fails_the_run_on_any_unavailable_resource():
    with small_api(unavailable={"calendar": 30}) as api:
        code, summary = cli_sync(api.base_url, api.api_key, "--strict")
    assert code == 1 and "calendar" in summary["error"] and "--strict" in summary["error"]


def test_a_refused_key_stays_fatal_for_the_whole_run_at_once():
    with small_api(unavailable={"invoice": 22}) as api:
        code, summary = cli_sync(api.base_url, "not-the-key-0000")
        served = api.stats()
    assert code == 2 and "Check the API key" in summary["error"]
    assert served["requests"] <= 16, "stops at once: no resource is read page after page"


def test_errors_as_words_are_understood_like_the_envelope():
    with small_api(error_shape="string", unavailable={"invoice": 22, "lead": 31}) as api:
        code, summary = cli_sync(api.base_url, api.api_key)
        assert code == 0
        assert_tables_equal_truth(api, ALL - {"invoice", "lead"})
        assert cli_sync(api.base_url, "not-the-key-0000")[0] == 2
    assert set(summary["unavailable"]) == {"invoice", "lead"}


def test_a_rate_limit_answered_as_403_with_a_string_and_no_retry_after_is_waited_out():
    with small_api(rate_limit=25, rate_limit_window="sliding", rate_limit_status=403,
                   rate_limit_body="string", retry_after=False) as api:
        code, summary = cli_sync(api.base_url, api.api_key, "--resources", "tasks,lead,invoice,pipeline,projects")
        assert code == 0, summary
        assert_tables_equal_truth(api, {"tasks", "lead", "invoice", "pipeline", "projects"})
        refused = api.stats()["rate_limited"]
    assert summary["retries_by_reason"].get("rate limit (http 403)", 0) == refused


def test_several_differences_at_once_with_faults_on():
    switches = dict(url_form="platform", page_size_param="count", total_field="total_result",
                    error_shape="string", unavailable={"calendar": 31}, rate_limit=40, rate_limit_status=503,
                    rate_limit_body="string", retry_after=False, fault_rate=0.05,
                    fault_kinds=("http500", "envelope13", "cut"))
    with small_api(**switches) as api:
        code, summary = cli_sync(api.base_url, api.api_key, "--max-attempts", "8")
        assert code == 0, summary
        assert_tables_equal_truth(api, ALL - {"calendar"})
    assert summary["unavailable"] == {"calendar": "module not enabled (error 31: unknown module)"}


def incremental_runs(api, *flags):
    """A full first sync, 1% of tasks touched, then an incremental one with `flags`:
    (the second run's summary, requests the API served for it)."""
    assert cli_sync(api.base_url, api.api_key, "--resources", "tasks")[0] == 0
    api.touch(0.01, ["tasks"])
    api.reset_stats()
    code, summary = cli_sync(api.base_url, api.api_key, "--resources", "tasks", *flags)
    assert code == 0, summary
    return summary, api.stats()["requests"]


def test_a_verified_platform_filter_reads_only_what_changed():
    with Sandbox(SandboxOptions(seed=8, rows_per_resource={"tasks": 2000}, server_filter=True)) as api:
        summary, requests = incremental_runs(api, "--server-filter", "platform", "--server-sort", "platform")
        assert_tables_equal_truth(api, {"tasks"})
    assert requests == 1, "20 changed rows (and any in the 5-minute overlap window): one page"
    assert 20 <= summary["tables"]["tasks"]["rows_read"] < 100
    assert not any("ignored" in note for note in summary["notes"])


def test_a_filter_the_api_ignores_is_noticed_and_the_resource_is_read_in_full():
    with Sandbox(SandboxOptions(seed=8, rows_per_resource={"tasks": 500}, server_filter_ignored=True)) as api:
        summary, requests = incremental_runs(api, "--server-filter", "platform", "--server-sort", "platform")
        assert_tables_equal_truth(api, {"tasks"})
        truth = api.truth("tasks")
    assert any(note.startswith("tasks: the API ignored the server filter") for note in summary["notes"])
    assert summary["tables"]["tasks"]["rows_read"] == len(truth) == 500
    # The filtered read stopped at page 1's evidence; the full read then costs what a full read costs.
    assert requests <= 1 + 5 + 2


def test_the_runs_table_keeps_each_runs_unavailable_resources():
    with small_api(unavailable={"invoice": 22}) as api:
        cli_sync(api.base_url, api.api_key, "--resources", "tasks,invoice")
        table = read_table(pipeline_for(api), "_pmcrm_runs")
    assert [json.loads(row["unavailable"]) for row in table] == [{"invoice": "no access (error 22: access denied)"}]
