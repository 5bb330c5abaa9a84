"""Feedback while a sync runs: the source reports rows and pages of the known total per
resource; a terminal shows live bars, a log (cron, CI) one plain line per resource;
`--quiet` prints errors only; `--json` prints one machine-readable summary on stdout."""

from __future__ import annotations

import io
import json
import math

from rich.console import Console
from rich.text import Text

from pmcrm.declarations import RESOURCES_BY_NAME
from pmcrm.pages import requests_for
from pmcrm.progress import LiveProgress, TallyProgress
from tests.helpers import invoke, sync_args

PICKED = ["tasks", "st_projects_users", "invoice_items", "loss_reason", "pipeline"]


class Recorder(TallyProgress):
    """Keeps what the source reported, and how often each resource finished."""

    def __init__(self) -> None:
        super().__init__()
        self.finishes: dict[str, int] = {}

    def _show(self, resource, tally, done):
        if done:
            self.finishes[resource] = self.finishes.get(resource, 0) + 1



def test_the_source_reports_each_resources_total_pages_and_rows_as_they_are_read(sandbox, sync):
    progress = Recorder()
    result, _ = sync(resources=PICKED, progress=progress)
    assert result.ok, result.error

    assert progress.finishes == {name: 1 for name in PICKED}
    for name in PICKED:
        rows, size = len(sandbox.truth(name)), RESOURCES_BY_NAME[name].page_size
        tally = progress.tallies[name]
        assert (tally.total_rows, tally.rows) == (rows, rows)
        planned = max(1, math.ceil(rows / size))  # empty: page 1 only
        assert tally.total_pages == planned and tally.pages == requests_for(planned)  # re-reads counted
    assert sum(t.pages for t in progress.tallies.values()) == result.stats.requests


def test_a_terminal_gets_live_bars_and_one_done_line_per_resource_with_its_rate(sandbox, sync):
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140)
    with LiveProgress(console, resources=len(PICKED)) as progress:
        result, _ = sync(resources=PICKED, progress=progress)
    assert result.ok, result.error

    shown = screen.getvalue()
    assert "\x1b[" in shown  # drawn with terminal control codes
    shown = Text.from_ansi(shown).plain
    for name in PICKED:
        pages = requests_for(max(1, math.ceil(len(sandbox.truth(name)) / RESOURCES_BY_NAME[name].page_size)))
        assert f"done {name}: {len(sandbox.truth(name))} rows, {pages} pages in" in shown
    assert "rows/s" in shown


def test_without_a_terminal_each_finished_resource_is_one_plain_log_line(sandbox):
    result = invoke(*sync_args(sandbox, "--resources", ",".join(PICKED)))
    assert result.exit_code == 0, result.output

    lines = result.stderr.splitlines()
    assert len(lines) == len(PICKED) and "\x1b[" not in result.stderr
    for name in PICKED:
        (line,) = [line for line in lines if f" pmcrm: {name}: " in line]
        assert f"{name}: {len(sandbox.truth(name))} rows" in line
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
