"""A table larger than one load file is loaded in several files, each committed on its
own, so a load's memory does not grow with the table: the rows still arrive exactly once,
on a first sync (append) and on the next (merge)."""

from __future__ import annotations

import pytest

from pmcrm import tuning
from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from tests.conftest import sync_request
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
    monkeypatch.setitem(tuning.DLT_SETTINGS, "data_writer.file_max_items", FILE_ROWS)
    request = sync_request(api, tmp_path, resources=["tasks"])

    first = run_sync(request)
    pipeline = make_pipeline(request)
    assert first.ok, first.error
    # dlt starts a new file once one holds FILE_ROWS rows (between two of pmcrm's batches)
    assert len(loaded_files(pipeline, "tasks")) > 1
    assert_table_equals_truth(pipeline, "tasks", api.truth("tasks"))

    api.update(0.3, ["tasks"])
    second = run_sync(request)
    pipeline = make_pipeline(request)
    assert second.ok, second.error
    assert_table_equals_truth(pipeline, "tasks", api.truth("tasks"))


def test_syncs_write_load_files_of_bounded_size_by_default():
    assert tuning.DLT_SETTINGS["data_writer.file_max_items"] == tuning.LOAD_FILE_ROWS <= 20_000
