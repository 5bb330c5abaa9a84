"""PostgreSQL is loaded in bulk: parquet load files that dlt copies in through the ADBC driver
(one binary COPY per file), never SQL INSERT statements built from arrow data - so no dlt
warning either. Every value arrives as it was read: '' stays '' and NULL stays NULL,
decimals are exact, timestamps carry their time zone, a value that does not fit its column
is kept in `<column>__v_text`. Text cannot hold U+0000 there: that character alone is
removed, and the summary says where. The key merged on (`id`) is indexed, so a merge
deletes the staged ids by lookup instead of reading the whole table.

Rows come from a scripted API (every request answers the same page), so each test states
its values literally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import dlt
import psycopg2
import pytest

from pmcrm.destinations import Target
from pmcrm.errors import SettingsError
from pmcrm.first_loads import _empty_asked_at_once
from pmcrm.load_settings import dlt_settings
from pmcrm.pipeline import SyncRequest, make_pipeline, run_sync
from tests.helpers import POSTGRES_URL, postgres_dataset
from tests.scripted_api import Answer, ScriptedApi, envelope

KEY = "postgres-bulk-secret-key-0042"
FAST = {"max_attempts": 2, "backoff_factor": 0.01, "timeout": 5}


@pytest.fixture
def dataset():
    with postgres_dataset("pmcrm_pg") as name:
        yield name


def task(n: int, **fields) -> dict:
    return {"id": n, "name": f"task {n}", "updated_date": "2024-01-02 03:04:05", **fields}


def sync_tasks(tmp_path, dataset: str, rows: list[dict]):
    """One sync of `tasks` into PostgreSQL; the API answers `rows` to every request."""
    api = ScriptedApi()
    api.fallback = Answer(envelope(rows))
    with api:
        request = SyncRequest.from_flags(base_url=api.base_url, api_key=KEY, resources=["tasks"],
                                         destination="postgres", dataset=dataset,
                                         pipelines_dir=str(tmp_path / "p"), **FAST)
        return run_sync(request), make_pipeline(request)


def query(sql: str, *args) -> list[tuple]:
    with psycopg2.connect(POSTGRES_URL) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def job_files(pipeline, table: str) -> list[str]:
    """The file names of every load job this pipeline completed for `table`."""
    loaded = Path(pipeline.pipelines_dir, pipeline.pipeline_name, "load", "loaded")
    return sorted(p.name for p in loaded.glob(f"*/completed_jobs/{table}.*"))


def test_tables_are_loaded_from_parquet_files_and_never_with_insert_statements(tmp_path, dataset):
    result, pipeline = sync_tasks(tmp_path, dataset, [task(1), task(2)])
    assert result.ok, result.error
    files = job_files(pipeline, "tasks")
    assert files and all(name.endswith(".parquet") for name in files), files
    loaded = Path(pipeline.pipelines_dir, pipeline.pipeline_name, "load", "loaded")
    insert_jobs = sorted({p.name.split(".")[0] for p in loaded.glob("*/completed_jobs/*.insert_values*")})
    assert insert_jobs in ([], ["_dlt_pipeline_state"]), "only dlt's own state row, a dict, may be inserted"
    assert query(f'SELECT count(*) FROM "{dataset}".tasks') == [(2,)]
    assert query(f'SELECT status, rows_written FROM "{dataset}"._pmcrm_runs') == [("success", 2)]


def test_every_value_round_trips_exactly(tmp_path, dataset):
    rows = [
        task(1, description="", event_location=None, cost="123456789012345678.123456", price="-0.000001",
             created_date="2024-03-31 23:59:59", closed_date="0000-00-00 00:00:00"),
        task(2, description=None, event_location="", cost=0, price="12.5", created_date="2024-01-02 03:04:05",
             closed_date=""),
        task(3, name="before\x00after", description="tab\tquote\"comma,newline\n", cost="not a number",
             price="x\x00y"),
    ]
    result, _ = sync_tasks(tmp_path, dataset, rows)
    assert result.ok, result.error
    got = query(f'SELECT id, name, description, event_location, cost, price, created_date, closed_date, '
                f'cost__v_text, price__v_text FROM "{dataset}".tasks ORDER BY id')
    assert got == [
        (1, "task 1", "", None, Decimal("123456789012345678.123456"), Decimal("-0.000001"),
         datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC), None, None, None),
        (2, "task 2", None, "", Decimal("0.000000"), Decimal("12.500000"),
         datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, None, None),
        (3, "beforeafter", "tab\tquote\"comma,newline\n", None, None, None, None, None, "not a number", "xy"),
    ]
    types = dict(query("SELECT column_name, data_type || coalesce('(' || numeric_precision || ',' || "
                       "numeric_scale || ')', '') FROM information_schema.columns "
                       "WHERE table_schema = %s AND table_name = 'tasks'", dataset))
    assert (types["name"], types["cost"], types["created_date"], types["cost__v_text"]) == (
        "character varying", "numeric(24,6)", "timestamp with time zone", "character varying")
    assert result.notes == ["U+0000 (NUL) removed from 2 text value(s), the rest of each value and its row "
                            "kept: PostgreSQL text cannot hold it. Columns: tasks.name (1), tasks.price__v_text (1)"]


def test_a_second_sync_merges_on_an_indexed_id(tmp_path, dataset):
    first, _ = sync_tasks(tmp_path, dataset, [task(1, updated_date="2023-06-01 00:00:00"), task(2)])
    assert first.ok, first.error
    changed, pipeline = sync_tasks(tmp_path, dataset, [task(1, updated_date="2023-06-01 00:00:00"),
                                                       task(2, name="renamed", updated_date="2024-02-03 04:05:06")])
    assert changed.ok, changed.error
    assert changed.written == {"tasks": 1}, "task 1 is older than the cursor: not loaded again"
    assert query(f'SELECT id, name FROM "{dataset}".tasks ORDER BY id') == [(1, "task 1"), (2, "renamed")]
    assert query("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'tasks'", dataset) == [
        (f"CREATE UNIQUE INDEX tasks__pmcrm_key ON {dataset}.tasks USING btree (id)",)]
    assert query("SELECT count(*) FROM pg_indexes WHERE schemaname = %s", f"{dataset}_staging") == [(0,)], \
        "staging tables get no index: dlt lets a key occur twice there"
    merge = [name for name in job_files(pipeline, "tasks") if name.endswith(".sql")]
    assert len(merge) == 1
    statements = next(Path(pipeline.pipelines_dir).rglob(merge[0])).read_text().splitlines()
    assert statements[0] == f'CREATE INDEX IF NOT EXISTS "tasks__pmcrm_key" ON "{dataset}"."tasks" ("id")'
    assert statements[1] == (f'DELETE FROM "{dataset}"."tasks" as d WHERE EXISTS (SELECT 1 FROM '
                             f'"{dataset}_staging"."tasks" as s WHERE d."id" = s."id")')


def test_an_empty_resource_gets_its_table_from_a_parquet_file_without_rows(tmp_path, dataset):
    result, pipeline = sync_tasks(tmp_path, dataset, [])
    assert result.ok, result.error
    files = job_files(pipeline, "tasks")
    assert len(files) == 1 and files[0].endswith(".parquet")
    assert query(f'SELECT count(*) FROM "{dataset}".tasks') == [(0,)]


def test_a_sync_prints_no_dlt_warning_and_with_quiet_nothing_at_all(tmp_path, dataset):
    pmcrm = Path(sys.executable).with_name("pmcrm")
    api = ScriptedApi()
    api.fallback = Answer(envelope([task(1), task(2, description="")]))
    env = {**os.environ, "DESTINATION__POSTGRES__CREDENTIALS": POSTGRES_URL, "DLT_DATA_DIR": str(tmp_path / "dlt")}
    with api:
        args = [str(pmcrm), "sync", "--base-url", api.base_url, "--api-key", KEY, "--resources", "tasks",
                "--destination", "postgres", "--dataset", dataset]
        loud = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        quiet = subprocess.run([*args, "--quiet"], capture_output=True, text=True, timeout=120, env=env,
                               cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert "WARNING" not in loud.stderr and "sync complete" in loud.stdout + loud.stderr
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_two_load_jobs_at_a_time_bound_the_loads_memory_unless_the_user_says_otherwise(monkeypatch):
    with dlt_settings(duckdb=False, postgres=True):
        assert dlt.config["load.workers"] == 2
    monkeypatch.setenv("LOAD__WORKERS", "8")
    with dlt_settings(duckdb=False, postgres=True):
        assert dlt.config["load.workers"] == 8


def test_without_the_adbc_driver_postgres_is_a_settings_error(monkeypatch):
    monkeypatch.setattr("pmcrm.destinations.POSTGRES_DRIVER", "no_such_driver_module")
    with pytest.raises(SettingsError, match="pip install adbc-driver-postgresql"):
        Target(destination="postgres").check()


def test_which_tables_are_empty_is_asked_in_one_query_in_postgresql_too(tmp_path, dataset):
    first, pipeline = sync_tasks(tmp_path, dataset, [task(1)])
    assert first.ok, first.error
    with pipeline.sql_client() as client:
        assert _empty_asked_at_once(client, ["tasks", "_dlt_loads"]) == set()
        client.execute_sql(f'DELETE FROM "{dataset}".tasks')
        assert _empty_asked_at_once(client, ["tasks", "_dlt_loads"]) == {"tasks"}
