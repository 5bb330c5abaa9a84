"""Feedback while a sync runs: the source reports rows and pages of the known total per
resource; a terminal shows live bars, a log (cron, CI) one plain line per resource;
`--quiet` prints errors only; `--json` prints one machine-readable summary on stdout."""

from __future__ import annotations

import io
import json
import math
import time

from rich.console import Console
from rich.text import Text

from pmcrm.declarations import RESOURCES_BY_NAME
from pmcrm.progress import LineProgress, LiveProgress, TallyProgress
from tests.helpers import invoke, sync_args

PICKED = ["tasks", "st_projects_users", "invoice_items", "loss_reason", "pipeline"]


class Recorder(TallyProgress):
    """Keeps what the source reported, how often each resource ended its read, and when
    each step of the run began."""

    def __init__(self) -> None:
        super().__init__()
        self.finishes: dict[str, int] = {}
        self.steps: dict[str, float] = {}

    def finished(self, resource, note=None):
        self.finishes[resource] = self.finishes.get(resource, 0) + 1
        super().finished(resource, note)

    def _show_step(self, name):
        self.steps[name] = time.monotonic()


def test_the_source_reports_each_resources_rows_and_planned_pages_and_counts_re_reads_apart(sandbox, sync):
    progress = Recorder()
    result, _ = sync(resources=PICKED, progress=progress)
    assert result.ok, result.error

    assert progress.finishes == {name: 1 for name in PICKED}
    for name in PICKED:
        rows, size = len(sandbox.truth(name)), RESOURCES_BY_NAME[name].page_size
        tally = progress.tallies[name]
        assert (tally.total_rows, tally.rows) == (rows, rows)
        planned = max(1, math.ceil(rows / size))  # empty: page 1 only
        assert tally.total_pages == planned and tally.pages == planned, "never more pages than planned"
        assert tally.rereads == (2 if planned > 2 else 1 if planned == 2 else 0), "page 1 and the last page, read again"
    assert sum(t.pages + t.rereads for t in progress.tallies.values()) == result.stats.requests


def test_a_resource_is_read_before_the_run_moves_on_and_the_steps_are_reported_in_order(sandbox, sync):
    progress = Recorder()
    result, _ = sync(resources=PICKED, progress=progress)
    assert result.ok, result.error
    assert list(progress.steps) == ["reading", "normalizing", "loading"]
    assert progress.steps["reading"] < progress.steps["normalizing"] < progress.steps["loading"]
    for name in PICKED:
        assert progress.tallies[name].ended < progress.steps["normalizing"], name


def test_a_terminal_gets_live_bars_and_one_line_per_resource_read_with_its_rate(sandbox, sync):
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140)
    with LiveProgress(console, resources=len(PICKED)) as progress:
        result, _ = sync(resources=PICKED, progress=progress)
    assert result.ok, result.error

    shown = screen.getvalue()
    assert "\x1b[" in shown  # drawn with terminal control codes
    shown = Text.from_ansi(shown).plain
    for name in PICKED:
        planned = max(1, math.ceil(len(sandbox.truth(name)) / RESOURCES_BY_NAME[name].page_size))
        again = " (+2 re-read)" if planned > 1 else ""
        assert f"read {name}: {len(sandbox.truth(name))} rows, {planned} pages{again} read in" in shown
    assert "rows/s" in shown


def test_a_rate_limit_learnt_from_the_api_is_one_line_above_the_bars_and_in_the_log():
    screen = io.StringIO()
    with LiveProgress(Console(file=screen, force_terminal=True, width=100), resources=1) as progress:
        progress.limit_learnt(20.0)
    assert "the API accepts at most 20 requests/s: paced at that from now on" in Text.from_ansi(screen.getvalue()).plain
    log = io.StringIO()
    LineProgress(log).limit_learnt(5.0)
    assert log.getvalue().endswith(" pmcrm: the API accepts at most 5 requests/s: paced at that from now on\n")


def test_without_a_terminal_each_resource_and_step_is_one_line_stamped_when_it_happened(sandbox):
    result = invoke(*sync_args(sandbox, "--resources", ",".join(PICKED)))
    assert result.exit_code == 0, result.output

    lines = result.stderr.splitlines()
    assert "\x1b[" not in result.stderr
    assert [line.split(" pmcrm: ")[1] for line in lines[-2:]] == [
        f"normalizing ({len(PICKED)} resources read)", f"loading ({len(PICKED)} resources read)"]
    assert len(lines) == len(PICKED) + 2
    for name in PICKED:
        (line,) = [line for line in lines if f" pmcrm: {name}: " in line]
        assert f"{name}: {len(sandbox.truth(name))} rows" in line
    stamps = [line.split(" ")[0] for line in lines]
    assert stamps == sorted(stamps), "in the order they happened"
    assert "sync complete" in result.stdout


def test_json_prints_one_summary_per_table_on_stdout(sandbox):
    result = invoke(*sync_args(sandbox, "--resources", "tasks,pipeline", "--json"))
    assert result.exit_code == 0, result.output

    summary = json.loads(result.stdout)
    assert summary["status"] == "success" and summary["exit_code"] == 0 and summary["error"] is None
    for name in ("tasks", "pipeline"):
        assert summary["tables"][name]["rows_read"] == len(sandbox.truth(name))
        assert summary["tables"][name]["rows_written"] == len(sandbox.truth(name))
    assert summary["requests"] >= 2 and summary["retries"] == 0
    assert summary["duration_seconds"] > 0 and summary["started_at"] < summary["finished_at"]
    assert summary["run_id"] and summary["pipeline_name"] == "pmcrm"


def test_json_reports_a_failure_with_its_error_and_exit_code_and_never_the_key(sandbox):
    result = invoke("sync", "--base-url", sandbox.base_url, "--api-key", "wrong-key-77", "--json", "--resources", "tasks")
    assert result.exit_code == 2

    summary = json.loads(result.stdout)
    assert summary["status"] == "failed" and summary["exit_code"] == 2
    assert "API error 11" in summary["error"]
    assert "wrong-key-77" not in result.output


def test_json_reports_bad_settings_too(sandbox):
    result = invoke(*sync_args(sandbox, "--resources", "nope", "--json"))
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"status": "failed", "exit_code": 2, "error": result.stderr.split("error: ", 1)[1].strip()}


def test_quiet_prints_nothing_when_all_is_well(sandbox):
    result = invoke(*sync_args(sandbox, "--resources", "tasks", "--quiet"))
    assert result.exit_code == 0
    assert result.output == ""


def test_quiet_still_prints_the_error(sandbox):
    result = invoke("sync", "--base-url", sandbox.base_url, "--api-key", "wrong-key-77", "-q", "--resources", "tasks")
    assert result.exit_code == 2
    assert result.stdout == "" and "API error 11" in result.stderr


def test_in_a_real_terminal_the_live_display_never_shows_more_pages_than_planned_and_counts_the_queue(tmp_path):
    """`pmcrm sync` in a pseudo-terminal, against a sandbox with latency: what a user sees."""
    import os
    import pty
    import re
    import subprocess
    import sys
    from pathlib import Path

    from pmcrm.sandbox import Sandbox, SandboxOptions
    from tests.conftest import ROWS_FOR

    with Sandbox(SandboxOptions(seed=3, rows=61, rows_per_resource=ROWS_FOR, latency=0.15)) as api:
        leader, follower = pty.openpty()
        pmcrm = Path(sys.executable).with_name("pmcrm")
        env = dict(os.environ, COLUMNS="150", LINES="30", TERM="xterm-256color")
        child = subprocess.Popen([str(pmcrm), *sync_args(api, "--concurrency", "4")], cwd=tmp_path, env=env,
                                 stdin=follower, stdout=follower, stderr=follower, close_fds=True)
        os.close(follower)
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        assert child.wait(timeout=120) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode("utf-8", "replace"))  # every frame drawn
    shown_pages = [(int(done), int(planned)) for done, planned in re.findall(r"(\d+)/(\d+) pages", text)]
    assert shown_pages and all(done <= planned for done, planned in shown_pages)
    queued = [int(n) for n in re.findall(r"reading: \d+ reading(?: \(\d+ without a bar\))?, (\d+) queued", text)]
    assert queued and max(queued) > 0 and min(queued) == 0, "resources not yet read are counted, down to none"
    for name in ("tasks", "invoice_items", "loss_reason"):
        assert re.search(rf"read {name}: \d+ rows, \d+ pages", text), name
    assert "sync complete" in text


def test_quiet_prints_nothing_at_all_on_success_also_on_postgresql(sandbox):
    from tests.helpers import postgres_dataset

    with postgres_dataset() as dataset:
        result = invoke(*sync_args(sandbox, "--resources", "tasks,pipeline,emails", "--destination", "postgres",
                                   "--dataset", dataset, "--quiet"))
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
