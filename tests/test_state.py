"""Incremental state is visible: `pmcrm state` says per resource how it is written, its
cursor, its last complete read and its rows; a `--start-date` that cannot apply says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.helpers import invoke, sync_args

PICKED = "tasks,pipeline,emails,lead"


def state(*extra):
    result = invoke("state", "--duckdb-file", "cli.duckdb", "--resources", PICKED, "--json", *extra)
    assert result.exit_code == 0, result.output
    return {row["resource"]: row for row in json.loads(result.stdout)}


def test_before_any_sync_there_is_nothing_to_tell():
    invoke("resources")  # any command: the folder exists, the file does not
    before = state()
    assert [row["cursor"] for row in before.values()] == [None] * 4
    assert [row["rows"] for row in before.values()] == [None] * 4


def test_after_a_sync_each_resource_shows_its_mode_cursor_last_read_and_rows(sandbox):
    assert invoke(*sync_args(sandbox, "--resources", "tasks,pipeline,emails")).exit_code == 0
    after = state()
    assert {name: row["mode"] for name, row in after.items()} == {
        "tasks": "incremental", "pipeline": "snapshot", "emails": "full", "lead": "incremental"}
    newest = max(row["updated_date"] for row in sandbox.truth("tasks") if row["updated_date"][:4] not in ("", "0000"))
    assert after["tasks"]["cursor"] == newest  # UTC is the account's time zone here
    assert after["pipeline"]["cursor"] is None and after["lead"]["cursor"] is None
    assert after["tasks"]["rows"] == len(sandbox.truth("tasks")) == 300
    assert after["lead"]["rows"] is None and after["lead"]["last_complete_read"] is None
    read_at = datetime.strptime(after["emails"]["last_complete_read"], "%Y-%m-%d %H:%M:%S")
    assert abs((datetime.now(UTC).replace(tzinfo=None) - read_at).total_seconds()) < 600


def test_a_start_date_on_a_pipeline_with_a_cursor_is_named_not_silently_ignored(sandbox):
    assert invoke(*sync_args(sandbox, "--resources", "tasks,emails")).exit_code == 0
    again = invoke(*sync_args(sandbox, "--resources", "tasks,emails", "--start-date", "2020-01-01", "--json"))
    notes = json.loads(again.stdout)["notes"]
    assert ("--start-date 2020-01-01 applies to a first run only; these already have a cursor and were read "
            "from it: tasks. To read from the start date again: --full-refresh --start-date ...") in notes
