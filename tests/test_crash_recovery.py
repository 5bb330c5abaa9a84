"""Crash recovery: a `pmcrm sync` killed with SIGKILL at any point - while it reads the
API, while dlt normalizes, between two load jobs, before the load is recorded - and then
run again ends with every table equal to the API's truth: nothing lost, nothing twice.

The killed run is a real child process (`python -c` running the `pmcrm` CLI). For the
kill points inside dlt, the child wraps one dlt function to SIGKILL itself right after
it (a load job's SQL has committed, but dlt has not yet recorded the job as done: the
worst moment). The data changes before and after the crash, so the run after it must
really read the API again, not just finish the dead run's work. `PMCRM_SOAK=1` adds four
more kill points.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import pytest

from pmcrm.declarations import RESOURCES_BY_NAME
from pmcrm.pipeline import make_pipeline, run_sync
from pmcrm.sandbox import Sandbox, SandboxOptions
from tests.conftest import ROWS_FOR
from tests.helpers import sync_request
from tests.truth import assert_table_equals_truth

# Merge tables with several pages (one with a cursor, one without), both snapshot
# (replace) tables, an empty one: every kind of load job the 36 resources make.
CRASH_RESOURCES = ["tasks", "invoice_items", "emails", "st_projects_users", "pipeline", "loss_reason", "lead"]
PIPELINE = "pmcrm_crash"

# Runs the CLI; PMCRM_TEST_KILL_AT names the point where it SIGKILLs itself.
CHILD = r"""
import os, signal, sys

point = os.environ.get("PMCRM_TEST_KILL_AT", "")

def die(where):
    sys.stderr.write(f"killed at {where}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)

if point.startswith("load-job:"):  # load-job:<table or *>:<file suffix>
    from dlt.common.destination.client import RunnableLoadJob
    _, table, suffix = point.split(":")
    original = RunnableLoadJob.run_managed
    def run_managed(self, *args):
        original(self, *args)  # the job's SQL has committed; dlt has not recorded it yet
        name = os.path.basename(self._file_path)
        if self._state == "completed" and (table == "*" or name.startswith(table + ".")) and name.endswith(suffix):
            die(name)
    RunnableLoadJob.run_managed = run_managed
elif point == "load-recorded":  # every job done, the load not yet recorded in _dlt_loads
    from dlt.load.load import Load
    Load.complete_package = lambda self, *args, **kwargs: die("complete_package")
elif point == "normalize":  # normalized files written, package not yet committed
    from dlt.normalize.normalize import Normalize
    original = Normalize.spool_files
    def spool_files(self, load_id, schema, map_f, files):
        def map_then_die(*args):
            map_f(*args)
            die("normalize")
        return original(self, load_id, schema, map_then_die, files)
    Normalize.spool_files = spool_files

elif point == "normalize-commit":  # package committed for loading, extracted files not yet deleted
    from dlt.common.storages.load_storage import LoadStorage
    original = LoadStorage.commit_new_load_package
    def commit_new_load_package(self, *args, **kwargs):
        original(self, *args, **kwargs)
        die("normalize commit")
    LoadStorage.commit_new_load_package = commit_new_load_package

from pmcrm.cli import main
main(sys.argv[1:], prog_name="pmcrm")
"""


def start_killed_sync(api, tmp_path, kill_at: str = "", concurrency: int = 8) -> subprocess.Popen:
    args = [sys.executable, "-c", CHILD, "sync", "--base-url", api.base_url, "--api-key", api.api_key,
            "--resources", ",".join(CRASH_RESOURCES), "--duckdb-file", str(tmp_path / "test.duckdb"),
            "--pipeline-name", PIPELINE, "--concurrency", str(concurrency), "--quiet"]
    env = dict(os.environ, PMCRM_TEST_KILL_AT=kill_at)
    return subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sync_in_process(api, tmp_path):
    request = sync_request(api, tmp_path, resources=CRASH_RESOURCES, pipeline_name=PIPELINE, pipelines_dir=None)
    return run_sync(request), make_pipeline(request)


def change_data(api) -> None:
    api.update(0.2, CRASH_RESOURCES)
    api.insert(2, CRASH_RESOURCES)
    api.delete(1, CRASH_RESOURCES)


def assert_recovers(api, tmp_path, killed: subprocess.Popen, report_line, where: str) -> None:
    _, stderr = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, f"the sync was not killed: {stderr[-2000:]}"
    change_data(api)
    api.reset_stats()
    result, pipeline = sync_in_process(api, tmp_path)
    assert result.ok, result.error
    assert api.stats()["pages"] > 0, "the run after the crash read the API again"
    for name in CRASH_RESOURCES:
        assert_table_equals_truth(pipeline, name, api.truth(name))
    report_line(f"crash: SIGKILL {where}; the next run loaded every table equal to the truth")


@pytest.fixture
def api():
    with Sandbox(SandboxOptions(seed=5, rows=61, rows_per_resource=ROWS_FOR)) as sandbox:
        yield sandbox


@pytest.fixture
def synced_once(api, tmp_path):
    """A destination with one complete load in it, then changed data at the source."""
    result, _ = sync_in_process(api, tmp_path)
    assert result.ok, result.error
    change_data(api)
    return api


KILL_POINTS = [
    ("normalize-commit", "between committing the normalized package and deleting the extracted one"),
    ("load-job:pipeline:.sql", "after a snapshot table was swapped in"),
    ("load-job:tasks:.sql", "after a merge into tasks committed"),
    ("load-recorded", "after every load job, before the load was recorded"),
]
SOAK_KILL_POINTS = [
    ("normalize", "while normalizing (files written, package not committed)"),
    ("load-job:*:", "after the first load job committed"),
    ("load-job:pipeline:.parquet", "after a snapshot table's rows reached the staging dataset"),
    ("load-job:_dlt_pipeline_state:", "after the new incremental state was written"),
]


@pytest.mark.parametrize(
    "kill_at, where",
    KILL_POINTS + (SOAK_KILL_POINTS if os.environ.get("PMCRM_SOAK") == "1" else []),
    ids=lambda value: value if " " not in value else "",
)
def test_a_sync_killed_in_normalize_or_load_is_made_whole_by_the_next_run(
        synced_once, tmp_path, kill_at, where, report_line):
    killed = start_killed_sync(synced_once, tmp_path, kill_at)
    assert_recovers(synced_once, tmp_path, killed, report_line, where)


def test_a_sync_killed_while_reading_the_api_is_made_whole_by_the_next_run(tmp_path, report_line):
    with Sandbox(SandboxOptions(seed=5, rows=61, rows_per_resource=ROWS_FOR, latency=0.2)) as api:
        result, _ = sync_in_process(api, tmp_path)
        assert result.ok, result.error
        change_data(api)
        pages = sum(max(1, math.ceil(len(api.truth(n)) / RESOURCES_BY_NAME[n].page_size)) for n in CRASH_RESOURCES)
        api.reset_stats()
        killed = start_killed_sync(api, tmp_path, concurrency=2)
        deadline = time.monotonic() + 60
        while api.stats()["requests"] < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert api.stats()["pages"] < pages, "killed before every page was read: during extraction"
        assert_recovers(api, tmp_path, killed, report_line, "while reading the API (extraction)")
