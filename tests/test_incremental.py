"""Incremental sync, start date, full refresh and deletions, end to end against the sandbox.

A run reads only rows changed since the last successful run (server-side filtering when
declared, else all pages with unchanged rows filtered out before loading); the cursor
moves only with a successful load; rows gone from the source are marked or removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pmcrm.client import ApiClient
from pmcrm.convert import PageConverter
from pmcrm.declarations import RESOURCES, RESOURCES_BY_NAME, ResourceSpec
from pmcrm.errors import RequestFailedError
from pmcrm.incremental import OVERLAP_ROWS_KEPT, LoadedOverlap, unchanged_rows_dropped
from pmcrm.pipeline import SyncRequest, make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.source import OVERLAP_ROWS, SOURCE_NAME
from tests.truth import assert_table_equals_truth, deleted_ids, read_table

INCREMENTAL = [s.name for s in RESOURCES if s.cursor]
FULL = [s.name for s in RESOURCES if not s.cursor]
SERVER_FILTER = {"server_filter": "updated_since", "server_sort": "sort=updated_asc"}


@pytest.fixture
def api():
    with Sandbox(SandboxOptions(seed=11, rows=150, server_filter=True)) as sandbox:
        yield sandbox


@pytest.fixture
def run(api, tmp_path):
    def sync(**overrides):
        request = SyncRequest.from_flags(
            base_url=api.base_url,
            api_key=api.api_key,
            duckdb_file=str(tmp_path / "inc.duckdb"),
            pipelines_dir=str(tmp_path / "pipelines"),
            pipeline_name="pmcrm_inc",
            **overrides,
        )
        api.reset_stats()
        result = run_sync(request)
        return result, make_pipeline(request), api.stats()

    return sync


def assert_all_tables_equal_truth(api, pipeline):
    for spec in RESOURCES:
        assert_table_equals_truth(pipeline, spec.name, api.truth(spec.name))


def requests_per_resource(stats) -> dict:
    return {spec.name: stats["requests_by_path"].get(spec.path, 0) for spec in RESOURCES}


def full_read_again(first_requests: int) -> int:
    """Requests of a later full read of a resource whose first read took `first_requests`:
    with 3 pages or more (5 requests or more), its last page, remembered, is read before
    page 1 and page 1 is not read again (pmcrm.pages): one fewer."""
    return first_requests - 1 if first_requests >= 5 else first_requests


def count_converted_rows(monkeypatch) -> dict:
    """Counts the rows pmcrm converts to arrow from now on."""
    counted = {"rows": 0}
    convert = PageConverter.__call__

    def counting(self, items, *args, **kwargs):
        counted["rows"] += len(items)
        return convert(self, items, *args, **kwargs)

    monkeypatch.setattr(PageConverter, "__call__", counting)
    return counted


WHEN = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # 14:00 in Berlin


@pytest.mark.parametrize("value, dropped", [
    ("2024-05-31 13:59:59", True),  # older than the bound less a day
    ("2024-05-31 14:00:00", False),  # at the margin
    ("2024-06-01 13:59:59", False),  # within the day before: dlt decides
    ("2024-06-02 08:00:00", False),  # changed since
    (None, False), ("", False), ("0000-00-00 00:00:00", False),  # no date: dlt keeps it
    ("2024-02-30 10:00:00", False),  # a bad date: reported and kept, as before
    ("2024-01-01", False), ("2024-01-01T10:00:00", False), (1717243200, False),  # other shapes
])
def test_before_conversion_only_rows_certainly_older_than_the_cursor_are_dropped(value, dropped):
    newer = unchanged_rows_dropped("updated_date", WHEN, "Europe/Berlin")
    assert newer([{"id": 1, "updated_date": value}]) == ([] if dropped else [{"id": 1, "updated_date": value}])


def test_a_second_run_after_inserts_updates_and_deletes_equals_the_new_truth(api, run):
    first, pipeline, _ = run()
    assert first.ok, first.error
    api.touch(0.05)
    api.update(0.05)
    api.insert(3)
    gone = api.delete(2, resources=["tasks", "lead", "invoice", "emails", "bank_account"])

    second, pipeline, _ = run()
    assert second.ok, second.error
    assert_all_tables_equal_truth(api, pipeline)
    for resource in ("tasks", "lead", "invoice", "emails", "bank_account"):
        assert deleted_ids(pipeline, resource) == set(gone[RESOURCES_BY_NAME[resource].path]), resource
    assert second.deleted["tasks"] == 2
    # incremental resources wrote only changed rows (plus the overlap window), not all of them
    assert sum(second.written[r] for r in INCREMENTAL) < sum(first.written[r] for r in INCREMENTAL) / 2


def test_deleted_rows_can_be_removed_instead_of_marked(api, run):
    assert run()[0].ok
    gone = api.delete(3, resources=["emails"])
    result, pipeline, _ = run(deletions="remove")
    assert result.ok and result.deleted == {"emails": 3}
    ids = {row["id"] for row in read_table(pipeline, "emails")}
    assert ids.isdisjoint(gone[RESOURCES_BY_NAME["emails"].path])
    assert_table_equals_truth(pipeline, "emails", api.truth("emails"))


def test_a_deleted_row_that_comes_back_is_live_again(api, run):
    assert run(resources=["emails"])[0].ok
    row = api.truth("emails")[0]
    api.delete(1, resources=["emails"])  # some row is gone...
    result, pipeline, _ = run(resources=["emails"])
    assert result.deleted == {"emails": 1}
    assert_table_equals_truth(pipeline, "emails", api.truth("emails"))
    assert row["id"] in {r["id"] for r in api.truth("emails")} or row["id"] in deleted_ids(pipeline, "emails")


def test_with_server_filtering_a_second_run_asks_only_for_changed_rows(api, run):
    first, _, full_stats = run(**SERVER_FILTER)
    assert first.ok
    api.touch(0.01)
    second, pipeline, stats = run(**SERVER_FILTER)
    assert second.ok
    assert_all_tables_equal_truth(api, pipeline)
    per_resource, full = requests_per_resource(stats), requests_per_resource(full_stats)
    # incremental resources: one page of changed rows each; full resources: all pages again
    assert all(per_resource[r] == 1 for r in INCREMENTAL), per_resource
    assert all(per_resource[r] == full_read_again(full[r]) for r in FULL
               if r not in ("st_projects_users", "project_observers"))
    print(f"\nsecond run requests: {stats['requests']} with server filter vs {full_stats['requests']} full")


def overlap_rows(cursors: list, name: str = "a") -> list[dict]:
    return [{"id": i, "updated_date": c, "name": name} for i, c in enumerate(cursors)]


def test_the_overlap_window_remembers_the_rows_within_it_of_the_newest_cursor():
    overlap = LoadedOverlap("updated_date", (), 300, "tasks|UTC|False")
    rows = overlap_rows(["2024-06-01 10:00:00", "2024-06-01 12:00:00", "2024-06-01 11:00:01",
                         "2024-06-01 10:54:59", "0000-00-00 00:00:00", None, "2024-99-99 99:99:99"])
    assert overlap(rows) == rows, "a first read drops nothing"
    again = LoadedOverlap("updated_date", overlap.remembered(), 300, "tasks|UTC|False")
    # Within 5 minutes and an hour (DST slack) of the newest: 11:00:01 and 12:00:00.
    assert again(rows) == [rows[0], rows[3], rows[4], rows[5], rows[6]]


def test_a_row_of_the_overlap_window_is_dropped_only_when_read_exactly_as_it_was_loaded():
    first = LoadedOverlap("updated_date", (), 300, "tasks|UTC|False")
    first(overlap_rows(["2024-06-01 12:00:00", "2024-06-01 12:00:00"]))
    loaded = first.remembered()
    same_second_change = overlap_rows(["2024-06-01 12:00:00", "2024-06-01 12:00:00"], name="b")
    assert LoadedOverlap("updated_date", loaded, 300, "tasks|UTC|False")(same_second_change) == same_second_change
    converted_otherwise = overlap_rows(["2024-06-01 12:00:00"])
    assert LoadedOverlap("updated_date", loaded, 300, "tasks|Europe/Berlin|False")(converted_otherwise) == \
        converted_otherwise, "another time zone converts the same row otherwise: it is loaded again"
    huge = [{"id": 2**70, "updated_date": "2024-06-01 12:00:00"}]
    assert LoadedOverlap("updated_date", loaded, 300, "tasks|UTC|False")(huge) == huge, "no hash: kept"


def test_a_bulk_change_in_the_window_is_not_remembered_row_by_row():
    overlap = LoadedOverlap("updated_date", (), 300, "tasks|UTC|False")
    overlap(overlap_rows(["2024-06-01 12:00:00"] * (OVERLAP_ROWS_KEPT + 1)))
    assert overlap.remembered() is None
    later = LoadedOverlap("updated_date", (), 300, "tasks|UTC|False")
    page = OVERLAP_ROWS_KEPT // 2
    for start in range(0, 5 * OVERLAP_ROWS_KEPT, page):  # five days, the window moving on
        later([{"id": i, "updated_date": f"2024-06-{1 + i // OVERLAP_ROWS_KEPT:02d} 12:00:00"}
               for i in range(start, start + page)])
    assert len(later.remembered()) == OVERLAP_ROWS_KEPT, "only the newest day's rows: within the window"


def test_a_quiet_night_writes_nothing_but_a_change_within_the_same_second_is_merged(api, run):
    assert run()[0].ok
    quiet, _, _ = run()
    assert quiet.ok
    assert {name: quiet.written.get(name, 0) for name in INCREMENTAL} == {name: 0 for name in INCREMENTAL}, \
        "the overlap window's rows are read again, unchanged: not merged again"
    tasks = api.dataset.table("tasks")
    newest = max(tasks.rows, key=lambda row: row["updated_date"] or "")
    newest["name"] = "changed within the same second"  # the cursor stays as it was
    tasks.changed()
    again, pipeline, _ = run()
    assert again.ok and again.written.get("tasks") == 1
    assert_all_tables_equal_truth(api, pipeline)


def loaded_tables(pipeline) -> set[str]:
    """The tables the last run's load had a job for."""
    package = pipeline.last_trace.last_load_info.load_packages[0]
    return {job.job_file_info.table_name for job in package.jobs["completed_jobs"]}


SNAPSHOTS = {spec.name for spec in RESOURCES if spec.write_disposition == "replace"}


def test_a_quiet_night_loads_only_the_snapshots(api, run):
    # Nothing to merge: no staging table, delete and insert for an unchanged incremental
    # table, nor for a table read in full whose rows are the ones it loaded last time.
    assert run()[0].ok
    quiet, pipeline, _ = run()
    assert quiet.ok
    assert loaded_tables(pipeline) - {"_dlt_pipeline_state"} == SNAPSHOTS
    assert_all_tables_equal_truth(api, pipeline)


def test_a_table_read_in_full_is_loaded_again_when_one_of_its_rows_changed(api, run):
    assert run()[0].ok
    api.update(0.05, ["custom_fields"])
    gone = api.delete(1, ["loss_reason"])
    again, pipeline, _ = run()
    assert again.ok
    assert {"custom_fields", "loss_reason"} <= loaded_tables(pipeline)
    assert not loaded_tables(pipeline) & (set(FULL) - SNAPSHOTS - {"custom_fields", "loss_reason"})
    assert_all_tables_equal_truth(api, pipeline)
    assert deleted_ids(pipeline, "loss_reason") == set(gone[RESOURCES_BY_NAME["loss_reason"].path])


def test_after_a_full_refresh_a_table_read_in_full_is_loaded_whole(api, run):
    # The refresh drops the table and the fingerprint with it (resource state).
    assert run()[0].ok
    refreshed, pipeline, _ = run(full_refresh=True, resources=["custom_fields"])
    assert refreshed.ok and refreshed.written["custom_fields"] == len(api.truth("custom_fields"))
    assert_table_equals_truth(pipeline, "custom_fields", api.truth("custom_fields"))


def test_a_column_a_newer_pmcrm_declares_reaches_unchanged_tables(api, run, monkeypatch):
    # An incremental table gets the column; a table read in full is loaded again whole.
    both = ["tasks", "custom_fields"]
    assert run(resources=both)[0].ok
    declared = ResourceSpec.columns
    monkeypatch.setattr(ResourceSpec, "columns", lambda spec: {**declared(spec), "sla_deadline": "timestamp"})
    quiet, pipeline, _ = run(resources=both)
    assert quiet.ok and quiet.written.get("tasks", 0) == 0
    assert quiet.written["custom_fields"] == len(api.truth("custom_fields"))
    with pipeline.sql_client() as client:
        tables = {table for (table,) in client.execute_sql(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'sla_deadline'")}
    assert tables == set(both)


def remembered_overlaps(pipeline) -> dict:
    return pipeline.state["sources"][SOURCE_NAME].get(OVERLAP_ROWS, {})


def test_only_an_unfiltered_incremental_read_keeps_the_overlap_rows_it_remembers(api, run):
    # A filtered read merges what changed without remembering it: rows remembered before
    # it might be merged in other versions, so they are forgotten until the next full read.
    _, pipeline, _ = run()
    assert "tasks" in remembered_overlaps(pipeline) and "st_projects_users" not in remembered_overlaps(pipeline)
    _, pipeline, _ = run(**SERVER_FILTER)
    assert remembered_overlaps(pipeline) == {}
    _, pipeline, _ = run()
    assert "tasks" in remembered_overlaps(pipeline)
    _, pipeline, _ = run(incremental=False)
    assert remembered_overlaps(pipeline) == {}


def test_without_server_filtering_every_page_is_read_but_unchanged_rows_are_not_written(api, run, monkeypatch):
    first, _, full_stats = run()
    api.touch(0.01)
    converted = count_converted_rows(monkeypatch)
    second, pipeline, stats = run()
    assert second.ok
    incremental_rows = sum(second.rows[r] for r in INCREMENTAL)
    full_rows = sum(second.rows[r] for r in FULL)
    # Unchanged rows of incremental resources are dropped before they are typed, not after.
    assert full_rows <= converted["rows"] < full_rows + incremental_rows / 5, (converted, full_rows, incremental_rows)
    full, again = requests_per_resource(full_stats), requests_per_resource(stats)
    assert again == {name: full_read_again(n) for name, n in full.items()}
    assert stats["requests"] < full_stats["requests"], "resources of 3 pages or more exist here"
    assert sum(second.written[r] for r in INCREMENTAL) < sum(first.written[r] for r in INCREMENTAL) / 5
    assert_all_tables_equal_truth(api, pipeline)


def test_a_failed_run_does_not_move_the_cursor(api, run, monkeypatch):
    assert run(**SERVER_FILTER)[0].ok
    touched = api.touch(0.05, resources=["tasks", "projects"])
    real_fetch = ApiClient.fetch_page

    def tasks_fail(self, resource, path, page, limit, params=None):
        if resource == "tasks":
            raise RequestFailedError(f"resource '{resource}', page {page}: simulated outage")
        return real_fetch(self, resource, path, page, limit, params)

    monkeypatch.setattr(ApiClient, "fetch_page", tasks_fail)
    failed, _, _ = run(**SERVER_FILTER)
    assert not failed.ok and "simulated outage" in failed.error
    monkeypatch.setattr(ApiClient, "fetch_page", real_fetch)

    recovered, pipeline, _ = run(**SERVER_FILTER)
    assert recovered.ok
    assert touched[RESOURCES_BY_NAME["tasks"].path], "the failed run had changes to pick up"
    assert_table_equals_truth(pipeline, "tasks", api.truth("tasks"))
    assert_table_equals_truth(pipeline, "projects", api.truth("projects"))


def test_start_date_bounds_the_first_run_of_incremental_resources(api, run):
    stamps = sorted(r["updated_date"] for r in api.truth("tasks"))
    start = stamps[len(stamps) // 2]
    result, pipeline, _ = run(resources=["tasks", "emails"], start_date=start, overlap_seconds=0)
    assert result.ok
    loaded = {r["id"] for r in read_table(pipeline, "tasks")}
    assert loaded == {r["id"] for r in api.truth("tasks") if r["updated_date"] >= start}
    assert len(read_table(pipeline, "emails")) == len(api.truth("emails")), "full resources ignore the start date"


@pytest.mark.parametrize("variable", ["UPDATED__INITIAL_VALUE", "SOURCES__SOURCE__TASKS__UPDATED__INITIAL_VALUE"])
def test_a_stray_dlt_setting_for_the_cursor_cannot_change_what_a_sync_reads(api, run, monkeypatch, variable):
    # dlt would look the incremental's fields up in every config provider (and fail or
    # filter on what it found); pmcrm's start is --start-date alone.
    monkeypatch.setenv(variable, "2100-01-01 00:00:00")
    result, pipeline, _ = run(resources=["tasks"])
    assert result.ok, result.error
    assert_table_equals_truth(pipeline, "tasks", api.truth("tasks"))


def test_full_refresh_ignores_state_and_rebuilds_the_tables(api, run):
    start = (datetime.now() + timedelta(days=3650)).strftime("%Y-%m-%d")
    first, pipeline, _ = run(resources=["tasks"], start_date=start)
    assert first.ok and read_table(pipeline, "tasks") == []
    refreshed, pipeline, _ = run(resources=["tasks"], full_refresh=True)
    assert refreshed.ok
    assert_table_equals_truth(pipeline, "tasks", api.truth("tasks"))


def test_into_duckdb_a_later_sync_is_one_load_its_deletion_pass_writes_the_seen_ids_directly(api, run):
    # The ids read go to _pmcrm_seen_ids straight from arrow, not through a second dlt run
    # (a second run was ~1.2 s of a nightly sync at 36 x 2,000 rows).
    assert run()[0].ok
    gone = api.delete(2, resources=["tasks"])
    second, pipeline, _ = run()
    assert second.ok and second.deleted["tasks"] == 2
    assert deleted_ids(pipeline, "tasks") == set(gone[RESOURCES_BY_NAME["tasks"].path])
    seen = {(row["resource"], row["id"]) for row in read_table(pipeline, "_pmcrm_seen_ids")}
    assert {("tasks", row["id"]) for row in api.truth("tasks")} <= seen
    loads = [row for row in read_table(pipeline, "_dlt_loads") if row["schema_name"] == pipeline.default_schema_name]
    assert len(loads) == 2, "one load per sync"
