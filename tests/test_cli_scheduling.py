"""Running from cron: plain output without a terminal, exit codes a scheduler can act on
(0 success, 1 failure, 2 bad key or settings, 3 another run holds the lock), and a lock
so two runs of one pipeline never overlap."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from pmcrm.errors import LOCKED_EXIT_CODE, LockHeldError
from pmcrm.lock import pipeline_lock
from pmcrm.pipeline import run_sync
from tests.helpers import invoke, sync_args, sync_request

HOLDER = """
import sys
from pmcrm.lock import pipeline_lock
with pipeline_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def lock_held_by_another_process(pipeline_name: str = "pmcrm"):
    """A separate process holding the pipeline's lock until the block ends (or it is killed)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, pipeline_name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.stdin.close()
            holder.wait(timeout=30)



def cron_args(sandbox, *extra):
    return sync_args(sandbox, "--resources", "tasks,pipeline", *extra, duckdb_file="cron.duckdb")


def test_from_cron_a_run_prints_plain_text_and_exits_0(sandbox):
    """The real command in a fresh process with no terminal, as cron starts it."""
    pmcrm = Path(sys.executable).with_name("pmcrm")
    done = subprocess.run([str(pmcrm), *cron_args(sandbox)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout + done.stderr
    said = [line.split(" pmcrm: ")[1] for line in done.stderr.splitlines()]
    assert sorted(text.split(":")[0] for text in said[:2]) == ["pipeline", "tasks"]  # one line per resource
    assert said[2:] == ["normalizing (2 resources read)", "loading (2 resources read)"]  # then each step
    assert "sync complete" in done.stdout


@pytest.mark.parametrize(
    "extra, exit_code",
    [
        (["--path-prefix", "nosuch"], 2),  # a wrong URL: every resource answers 'unknown module'
        (["--api-key", "wrong-key"], 2),  # a wrong key: retrying cannot help
        (["--resources", "nope"], 2),  # a bad setting
    ],
)
def test_exit_codes_tell_a_scheduler_what_happened(sandbox, extra, exit_code):
    result = invoke(*cron_args(sandbox, "--max-attempts", "1"), *extra)
    assert result.exit_code == exit_code, result.output
    assert "error:" in result.stderr


def test_a_second_run_of_the_same_pipeline_exits_3_at_once_and_does_nothing(sandbox, tmp_path):
    sandbox.reset_stats()
    with lock_held_by_another_process("pmcrm"):
        result = invoke(*cron_args(sandbox))
    assert result.exit_code == LOCKED_EXIT_CODE == 3
    assert "another pmcrm sync of pipeline 'pmcrm' is running" in result.stderr
    assert sandbox.stats()["requests"] == 0
    assert not (tmp_path / "cron.duckdb").exists()


def test_with_json_a_locked_run_says_so_on_stdout(sandbox):
    with lock_held_by_another_process("pmcrm"):
        result = invoke(*cron_args(sandbox, "--json"))
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "locked"


def test_other_pipelines_are_not_blocked_by_the_lock(sandbox):
    with lock_held_by_another_process("pmcrm"):
        result = invoke(*cron_args(sandbox, "--pipeline-name", "pmcrm_other"))
    assert result.exit_code == 0, result.output


def test_a_killed_run_leaves_no_stale_lock_behind(sandbox):
    with lock_held_by_another_process("pmcrm") as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        result = invoke(*cron_args(sandbox))
    assert result.exit_code == 0, result.output


def test_the_library_refuses_an_overlapping_run_and_releases_the_lock_after_a_failed_one(sandbox, tmp_path):
    request = sync_request(sandbox, tmp_path, resources=["pipeline"], api_key="wrong-key")
    with pipeline_lock(request.pipeline_name, request.pipelines_dir), pytest.raises(LockHeldError):
        run_sync(request)
    assert run_sync(request).exit_code == 2  # ran (and failed) once the lock was free...
    with pipeline_lock(request.pipeline_name, request.pipelines_dir):
        pass  # ...and let go of the lock
