"""End to end against the sandbox: every table equals the API's truth, on DuckDB and on
PostgreSQL, and re-syncing changes nothing."""

from __future__ import annotations

import duckdb
import pytest
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from pmcrm.declarations import RESOURCES
from tests.helpers import postgres_dataset
from tests.truth import assert_table_equals_truth, read_table


def destinations():
    yield pytest.param({}, id="duckdb")
    yield pytest.param({"destination": "postgres"}, id="postgres")


@pytest.fixture(params=list(destinations()))
def destination(request):
    if request.param.get("destination") != "postgres":
        yield {}
        return
    with postgres_dataset() as dataset:
        yield {"destination": "postgres", "dataset": dataset}


def test_all_36_tables_equal_the_api_truth_and_a_second_sync_adds_no_duplicates(sandbox, sync, destination):
    result, pipeline = sync(**destination)
    assert result.ok, result.error
    for spec in RESOURCES:
        assert_table_equals_truth(pipeline, spec.name, sandbox.truth(spec.name))
    assert result.rows == {s.name: len(sandbox.truth(s.name)) for s in RESOURCES if sandbox.truth(s.name)}

    again, pipeline = sync(**destination)
    assert again.ok, again.error
    for spec in RESOURCES:
        assert_table_equals_truth(pipeline, spec.name, sandbox.truth(spec.name))


def test_only_the_selected_resources_are_synced(sandbox, sync):
    result, pipeline = sync(resources=["tasks", "pipeline"])
    assert result.ok and set(result.rows) == {"tasks", "pipeline"}
    tables = {t for t in pipeline.default_schema.data_table_names() if not t.startswith("_pmcrm")}
    assert tables == {"tasks", "pipeline"}
    assert_table_equals_truth(pipeline, "tasks", sandbox.truth("tasks"))


def test_an_empty_resource_still_gets_its_table(sandbox, sync):
    result, pipeline = sync(resources=["loss_reason"])
    assert result.ok
    assert read_table(pipeline, "loss_reason") == []


def test_api_names_can_be_kept_instead_of_neutral_names(sandbox, sync):
    result, pipeline = sync(resources=["tasks"], keep_api_names=True)
    assert result.ok
    assert_table_equals_truth(pipeline, "tasks", sandbox.truth("tasks"), neutral_names=False)


def test_timestamps_are_read_in_the_named_account_time_zone(sandbox, sync):
    result, pipeline = sync(resources=["tasks"], timezone="America/New_York")
    assert result.ok
    assert_table_equals_truth(pipeline, "tasks", sandbox.truth("tasks"), tz="America/New_York")


def test_a_wrong_key_fails_with_exit_code_2_and_creates_no_tables(sandbox, sync, tmp_path):
    result, pipeline = sync(api_key="not-the-key")
    assert not result.ok and result.exit_code == 2
    assert "API error 11" in result.error and "Check the API key" in result.error
    assert "not-the-key" not in result.error
    with duckdb.connect(str(tmp_path / "test.duckdb")) as db:
        tables = db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'pmcrm_data'").fetchall()
    assert [name for (name,) in tables if not name.startswith("_")] == []
    with pytest.raises(DatabaseUndefinedRelation):
        read_table(pipeline, "tasks")
