"""Every run that started appends one row to `_pmcrm_runs` in the destination - failed runs
too, without loading any of the failed run's data - so a dashboard can show sync health."""

from __future__ import annotations

import json

import duckdb

from pmcrm.client import ApiClient
from pmcrm.pipeline import run_sync
from pmcrm.runs import RUNS_TABLE
from tests.helpers import sync_request


def runs(tmp_path) -> list[dict]:
    with duckdb.connect(str(tmp_path / "test.duckdb"), read_only=True) as connection:
        cursor = connection.execute(f"select * from pmcrm_data.{RUNS_TABLE} order by started_at")
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def data_tables(tmp_path) -> set[str]:
    with duckdb.connect(str(tmp_path / "test.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'pmcrm_data'"
        ).fetchall()
    return {name for (name,) in rows if not name.startswith("_")}


def test_every_successful_run_appends_its_summary_row(sandbox, sync, tmp_path):
    first, _ = sync(resources=["tasks", "pipeline"])
    second, _ = sync(resources=["tasks", "pipeline"])
    assert first.ok and second.ok

    rows = runs(tmp_path)
    assert [row["run_id"] for row in rows] == [first.run_id, second.run_id]
    for row, result in zip(rows, (first, second)):
        assert row["status"] == "success" and row["exit_code"] == 0 and row["error"] is None
        assert row["pipeline_name"] == "pmcrm_test" and row["destination"] == "duckdb"
        assert row["started_at"] <= row["finished_at"]
        assert row["requests"] == result.stats.requests > 0
        assert row["retries"] == result.stats.total_retries
        tables = json.loads(row["tables"])
        assert {name: t["rows_read"] for name, t in tables.items()} == result.rows
        assert {name: t["rows_written"] for name, t in tables.items()} == result.written
        assert row["rows_read"] == sum(result.rows.values()) == len(sandbox.truth("tasks")) + len(sandbox.truth("pipeline"))


def test_a_failed_run_records_its_failure_and_loads_none_of_the_rows_it_read(sandbox, tmp_path, monkeypatch):
    fetch = ApiClient.fetch_page

    def page_3_fails(self, resource, path, page, limit, params=None):
        # the sandbox itself answers error 31 (unknown module) for the third page
        return fetch(self, resource, path.replace("/task/", "/nosuch/") if page == 3 else path, page, limit, params)

    monkeypatch.setattr(ApiClient, "fetch_page", page_3_fails)
    result = run_sync(sync_request(sandbox, tmp_path, resources=["tasks"], max_attempts=1))

    assert not result.ok and result.rows["tasks"] == 100  # page 1 was read (the last, 3, comes next)...
    assert data_tables(tmp_path) == set()  # ...and none of it loaded
    (row,) = runs(tmp_path)
    assert row["status"] == "failed" and row["exit_code"] == 1 and row["run_id"] == result.run_id
    assert "API error 31" in row["error"] and "tasks" in row["error"]
    assert json.loads(row["tables"]) == {"tasks": {"rows_read": 100, "rows_written": 0, "deleted": 0, "mode": "incremental"}}
    assert row["rows_written"] == 0


def test_the_failure_row_never_holds_the_key(sandbox, sync, tmp_path):
    result, _ = sync(api_key="wrong-key-s3cret", resources=["tasks"])
    assert not result.ok and result.exit_code == 2
    (row,) = runs(tmp_path)
    assert row["status"] == "failed" and row["exit_code"] == 2 and "API error 11" in row["error"]
    assert "wrong-key-s3cret" not in json.dumps(row, default=str)
    assert data_tables(tmp_path) == set()


def test_a_run_whose_summary_cannot_be_stored_keeps_its_own_outcome_and_says_why(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://nobody:pw@127.0.0.1:1/none")
    result = run_sync(sync_request(sandbox, tmp_path, destination="postgres", resources=["pipeline"]))
    assert not result.ok and result.exit_code == 1
    assert not result.error.startswith("run not recorded")
    assert any(note.startswith(f"run not recorded in {RUNS_TABLE}") for note in result.notes)
