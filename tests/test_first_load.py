"""A first load into missing (or empty) tables appends: nothing to merge with, so no
staging tables and no deletion pass. Every later sync merges as declared: changed rows
are replaced, none duplicated, deleted rows marked."""

from __future__ import annotations

import pytest
from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

from pmcrm.first_loads import empty_tables
from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.source import _ResourceRun
from pmcrm.waits import Waiting
from tests.helpers import sync_request
from tests.truth import assert_table_equals_truth, read_table

RESOURCES = ["tasks", "invoice_items", "pipeline"]  # merge + cursor, merge, snapshot


@pytest.fixture
def api():
    with Sandbox(SandboxOptions(seed=11, rows=0, rows_per_resource={name: 150 for name in RESOURCES})) as sandbox:
        yield sandbox


@pytest.fixture
def sync(api, tmp_path):
    def run(**overrides):
        request = sync_request(api, tmp_path, **overrides)
        return run_sync(request), make_pipeline(request)

    return run


def schemas(pipeline) -> set[str]:
    with pipeline.sql_client() as client:
        return {row[0] for row in client.execute_sql("SELECT schema_name FROM information_schema.schemata")}


def tables(pipeline) -> set[str]:
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                  pipeline.dataset_name)
        return {row[0] for row in rows}


def test_a_first_sync_appends_and_the_next_one_merges(api, sync):
    first, pipeline = sync(resources=RESOURCES)
    assert first.ok, first.error
    for name in RESOURCES:
        assert_table_equals_truth(pipeline, name, api.truth(name))
    assert not any(name.endswith("_staging") for name in schemas(pipeline)), "nothing went through staging"
    assert "_pmcrm_seen_ids" not in tables(pipeline), "no deletion pass over tables that were empty"
    assert pipeline.default_schema.get_table("tasks")["write_disposition"] == "append"

    api.update(0.2, RESOURCES)
    api.delete(3, RESOURCES)
    second, pipeline = sync(resources=RESOURCES)
    assert second.ok, second.error
    assert pipeline.default_schema.get_table("tasks")["write_disposition"] == "merge"
    assert any(name.endswith("_staging") for name in schemas(pipeline)), "the second sync merged"
    for name in RESOURCES:
        live = [row for row in read_table(pipeline, name) if row.get("_pmcrm_deleted_at") is None]
        assert len(live) == len(api.truth(name)), f"{name}: changed rows replaced, none duplicated"
        assert_table_equals_truth(pipeline, name, api.truth(name))
    marked = [row for row in read_table(pipeline, "tasks") if row.get("_pmcrm_deleted_at") is not None]
    assert len(marked) == 3, "deleted rows are marked as on any merge"


def test_a_full_refresh_rebuilds_by_appending_without_duplicates(api, sync):
    first, pipeline = sync(resources=RESOURCES)
    assert first.ok, first.error
    api.update(0.5, RESOURCES)
    again, pipeline = sync(resources=RESOURCES, full_refresh=True)
    assert again.ok, again.error
    for name in RESOURCES:
        assert_table_equals_truth(pipeline, name, api.truth(name))


def test_a_first_sync_hands_dlt_an_empty_typed_table_only_for_a_resource_without_rows(api, sync, monkeypatch):
    # Typed rows carry every declared column: the schema alone would only add work
    # (~4 ms of dlt's per-item schema work each, 36 times on a first sync).
    handed: dict[str, list[int]] = {}
    steps_of = _ResourceRun.steps

    def spy(run, since):
        for step in steps_of(run, since):
            if not isinstance(step, Waiting):
                handed.setdefault(run.spec.name, []).append(step.num_rows)
            yield step

    monkeypatch.setattr(_ResourceRun, "steps", spy)
    first, pipeline = sync(resources=[*RESOURCES, "loss_reason"])
    assert first.ok, first.error
    assert {name: sum(rows) for name, rows in handed.items()} == {name: 150 for name in RESOURCES} | {"loss_reason": 0}
    assert all(0 not in handed[name] for name in RESOURCES), handed
    assert handed["loss_reason"] == [0], "the declared schema alone creates the empty resource's table"
    assert "loss_reason" in tables(pipeline)
    for name in RESOURCES:
        assert_table_equals_truth(pipeline, name, api.truth(name))


def test_empty_and_missing_tables_are_told_apart_from_loaded_ones_in_one_query_when_all_exist(api, sync,
                                                                                             monkeypatch):
    first, pipeline = sync(resources=RESOURCES)
    assert first.ok, first.error
    with pipeline.sql_client() as client:
        client.execute_sql(f"DELETE FROM {client.make_qualified_table_name('invoice_items')}")
    queries: list[str] = []
    execute = DuckDbSqlClient.execute_sql

    def counted(client, sql, *args, **kwargs):
        if "INFORMATION_SCHEMA" not in sql:  # has_dataset(), asked first either way
            queries.append(sql)
        return execute(client, sql, *args, **kwargs)

    monkeypatch.setattr(DuckDbSqlClient, "execute_sql", counted)
    assert empty_tables(pipeline, RESOURCES) == {"invoice_items"}
    assert len(queries) == 1, "one query for every table, not one each"

    queries.clear()
    assert empty_tables(pipeline, [*RESOURCES, "loss_reason"]) == {"invoice_items", "loss_reason"}, \
        "a table never created (a resource selected for the first time) is empty too"
    assert len(queries) == 1 + len(RESOURCES) + 1, "after that one, each table is asked on its own"
