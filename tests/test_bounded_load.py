"""A table larger than one load file is loaded in several files, each committed on its
own, so a load's memory does not grow with the table: the rows still arrive exactly once,
on a first sync (append) and on the next (merge). pmcrm's dlt settings hold for the run
only, yield to the user's, and do what they say."""

from __future__ import annotations

import functools

import dlt
import pyarrow.parquet as pq
import pytest

from pmcrm import load_settings, source
from pmcrm.convert import TableBatcher
from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from tests.helpers import sync_request
from tests.truth import assert_table_equals_truth

ROWS, FILE_ROWS = 450, 100


@pytest.fixture
def api():
    with Sandbox(SandboxOptions(seed=5, rows=0, rows_per_resource={"tasks": ROWS})) as sandbox:
        yield sandbox


def loaded_files(pipeline, table: str) -> list[str]:
    package = pipeline.last_trace.last_load_info.load_packages[0]
    return [job.file_path for job in package.jobs["completed_jobs"] if job.job_file_info.table_name == table]


def test_a_table_larger_than_a_load_file_loads_in_several_files(api, tmp_path, monkeypatch):
    monkeypatch.setitem(load_settings.DLT_SETTINGS, "data_writer.file_max_items", FILE_ROWS)
    # One typed table per page (a batch holds ~1,000 rows of tasks by default): dlt starts a
    # new file once one holds FILE_ROWS rows, between two of pmcrm's batches.
    monkeypatch.setattr(source, "TableBatcher", functools.partial(TableBatcher, convert_values=1, yield_bytes=1))
    request = sync_request(api, tmp_path, resources=["tasks"])

    first = run_sync(request)
    pipeline = make_pipeline(request)
    assert first.ok, first.error
    files = loaded_files(pipeline, "tasks")
    assert len(files) > 1 and all(pq.read_metadata(path).num_rows for path in files), "rows in every file"
    assert_table_equals_truth(pipeline, "tasks", api.truth("tasks"))

    api.update(0.3, ["tasks"])
    second = run_sync(request)
    pipeline = make_pipeline(request)
    assert second.ok, second.error
    assert_table_equals_truth(pipeline, "tasks", api.truth("tasks"))


def test_during_a_sync_load_files_hold_at_most_10000_rows_unless_the_user_says_otherwise(monkeypatch):
    with load_settings.dlt_settings(duckdb=True):
        assert dlt.config["data_writer.file_max_items"] == 10_000
        assert dlt.config["load.workers"] == 2
    assert dlt.config.get("data_writer.file_max_items") is None, "only for the run"
    monkeypatch.setenv("DATA_WRITER__FILE_MAX_ITEMS", "500")
    with load_settings.dlt_settings(duckdb=False):
        assert dlt.config["data_writer.file_max_items"] == 500
        assert dlt.config.get("load.workers") is None, "a DuckDB setting, not for other destinations"


def test_a_relative_duckdb_file_is_the_one_in_the_current_folder_on_every_run(sandbox, tmp_path, monkeypatch):
    # dlt alone would resolve it against the folder the pipeline first ran in.
    pipelines = str(tmp_path / "pipelines")
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        result = run_sync(sync_request(sandbox, tmp_path, resources=["pipeline"], duckdb_file="here.duckdb",
                                       pipelines_dir=pipelines))
        assert result.ok, result.error
        assert (tmp_path / folder / "here.duckdb").exists(), f"the sync from '{folder}' wrote its own file"
