"""A failed run leaves every table as it was before it, or - for a load that failed
part-way - wholly replaced by this run's complete read of that table, never half-written
and never emptied; it never moves the incremental cursor past data that was not loaded;
and the next run, restoring its state from the destination, loads everything.

The overlap window is off here (`overlap_seconds=0`), so a cursor that had moved too far
would really skip the changed rows instead of re-reading them by luck.
"""

from __future__ import annotations

import os

import pytest
from dlt.common.destination.client import RunnableLoadJob
from dlt.common.destination.exceptions import DestinationTerminalException

from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.source import SOURCE_NAME
from tests.conftest import ROWS_FOR
from tests.helpers import sync_request
from tests.truth import assert_table_equals_truth, read_table

# Merge with cursor (tasks, lead), merge without (invoice_items), both snapshot tables.
RESOURCES = ["tasks", "lead", "invoice_items", "st_projects_users", "pipeline"]
STRICT = {"overlap_seconds": 0, "backoff_factor": 0.01}


@pytest.fixture
def api():
    # Every list request may fail at its first attempt (never more than twice in a row).
    with Sandbox(SandboxOptions(seed=3, rows=61, rows_per_resource=ROWS_FOR, fault_rate=0.3,
                                fault_kinds=("http503",))) as sandbox:
        yield sandbox


@pytest.fixture
def sync(api, tmp_path):
    def run(max_attempts: int = 3):
        request = sync_request(api, tmp_path, resources=RESOURCES,
                               **STRICT, max_attempts=max_attempts)
        return run_sync(request), make_pipeline(request)

    return run


def snapshot(pipeline) -> dict[str, list]:
    return {name: sorted(map(repr, read_table(pipeline, name))) for name in RESOURCES}


def completed_loads(pipeline) -> int:
    """Loads of the sync's own schema recorded as complete (the run log has its own)."""
    with pipeline.sql_client() as client:
        loads = client.make_qualified_table_name("_dlt_loads")
        return client.execute_sql(f"SELECT COUNT(*) FROM {loads} WHERE status = 0 AND schema_name = %s",
                                  SOURCE_NAME)[0][0]


@pytest.fixture
def loaded_then_changed(api, sync):
    """One complete load; then the source changes. Gives what the tables held and how
    many loads were complete before the run under test."""
    first, pipeline = sync()
    assert first.ok, first.error
    before, loads = snapshot(pipeline), completed_loads(pipeline)
    api.update(0.3, RESOURCES)
    api.insert(2, RESOURCES)
    return before, loads


@pytest.fixture
def fail_loading(monkeypatch):
    """Make the load job of one table fail terminally, as a destination error would."""
    original = RunnableLoadJob.run_managed

    def run_managed(self, *args):
        if os.path.basename(self._file_path).startswith(fail_loading.table + "."):
            def refuse():
                raise DestinationTerminalException(f"injected: the destination refused {fail_loading.table}")
            self.run = refuse
        return original(self, *args)

    def fail(table: str) -> None:
        fail_loading.table = table
        monkeypatch.setattr(RunnableLoadJob, "run_managed", run_managed)

    return fail


def test_a_run_that_fails_while_reading_the_api_changes_no_table_and_no_cursor(api, sync, loaded_then_changed):
    before, loads = loaded_then_changed
    failed, pipeline = sync(max_attempts=1)  # the first injected 503 now ends the run
    assert not failed.ok and "HTTP 503 after 1 attempt" in failed.error
    assert snapshot(pipeline) == before, "not one row of the failed run reached a table"
    assert completed_loads(pipeline) == loads
    assert not pipeline.has_pending_data, "the failed run's extracted data was discarded"

    recovered, pipeline = sync()
    assert recovered.ok, recovered.error
    for name in RESOURCES:
        assert_table_equals_truth(pipeline, name, api.truth(name))


@pytest.mark.parametrize("table", ["tasks", "pipeline"], ids=["merge table", "snapshot table"])
def test_a_run_that_fails_while_loading_leaves_each_table_whole_and_the_cursor_behind(
        api, sync, loaded_then_changed, fail_loading, table):
    before, loads = loaded_then_changed
    expected_now = {name: api.truth(name) for name in RESOURCES}

    fail_loading(table)
    failed, pipeline = sync()
    assert not failed.ok
    assert failed.error.startswith(f"loading table '{table}' failed") and "destination refused" in failed.error
    after = snapshot(pipeline)
    assert after[table] == before[table], "the table whose load failed is exactly as before"
    for name in RESOURCES:  # every other table: as before, or wholly this run's read
        if after[name] != before[name]:
            assert_table_equals_truth(pipeline, name, expected_now[name])
    assert completed_loads(pipeline) == loads, "the failed load is not recorded as complete"
    assert not pipeline.has_pending_data, "the failed load package was discarded"

    fail_loading("none")
    recovered, pipeline = sync()
    assert recovered.ok, recovered.error
    for name in RESOURCES:  # rows changed before the failed run are loaded: the cursor stayed
        assert_table_equals_truth(pipeline, name, api.truth(name))
