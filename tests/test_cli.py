"""The `pmcrm` command: a thin, documented layer over the library, with honest exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from pmcrm.cli import main
from pmcrm.declarations import RESOURCES
from pmcrm.pipeline import SyncRequest
from tests.helpers import invoke, sync_args


def test_every_command_has_help_with_an_example():
    names = main.list_commands(click.Context(main))
    assert {"sync", "check", "demo", "sandbox", "report"} <= set(names)
    for name in names:
        result = invoke(name, "--help")
        assert result.exit_code == 0, name
        assert "Example" in result.output and f"pmcrm {name}" in result.output, name


def test_every_sync_flag_sets_the_field_of_its_own_name_and_the_readme_says_which():
    request = SyncRequest.from_flags(base_url="http://x", api_key="k")
    holders = {"": request, "read": request.read, "http": request.http, "target": request.target}
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("| flag | field |"):]
    table = table[:table.index("\n\n")]
    for option in main.get_command(click.Context(main), "sync").params:
        if option.name in ("quiet", "as_json", "log_level"):
            continue  # how the command prints, not what the sync does
        owners = [part for part, holder in holders.items() if hasattr(holder, option.name)]
        assert len(owners) == 1, f"--{option.name.replace('_', '-')}: fields {owners}"
        assert f"`{option.opts[0]}" in table and f".{option.name}`" in table, option.name


def test_a_sync_does_not_load_the_other_commands_or_the_sandboxs_web_server():
    # Start-up is part of every sync a user runs; the sandbox's server (aiohttp) is not needed.
    code = ("import sys, click; from pmcrm.cli import main; main.get_command(click.Context(main), 'sync'); "
            "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'pmcrm.sandbox', 'pmcrm.diagnose'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_version_is_printed():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("pmcrm, version ")


def test_python_dash_m_pmcrm_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "pmcrm", "resources"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(spec.name in result.stdout for spec in RESOURCES)
    usage = subprocess.run([sys.executable, "-m", "pmcrm", "sync"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "no base url" in usage.stderr


def test_resources_lists_all_36_with_path_disposition_and_sync_mode():
    result = CliRunner().invoke(main, ["resources"])  # not a terminal: nothing may be cut
    assert result.exit_code == 0
    for spec in RESOURCES:
        assert spec.name in result.output and spec.path in result.output
    assert "merge on id" in result.output and "replace" in result.output
    assert "incremental (updated_date)" in result.output and "full" in result.output
    lines = result.output.splitlines()
    assert len(lines) == 37 and all(line.count("\t") == 5 for line in lines)
    assert "tasks\t/v1/task/tasks/list\t100\tmerge on id\tincremental (updated_date)\t62" in lines


def test_sync_reads_the_key_from_the_environment_and_prints_a_summary(sandbox):
    result = invoke("sync", "--base-url", sandbox.base_url, "--duckdb-file", "cli.duckdb", "--resources", "tasks,emails",
                    env={"PMCRM_API_KEY": sandbox.api_key})
    assert result.exit_code == 0, result.output
    assert "sync complete" in result.output and "requests:" in result.output
    assert f"{len(sandbox.truth('tasks'))}" in result.output
    assert sandbox.api_key not in result.output
    with duckdb.connect("cli.duckdb") as db:
        assert db.execute("select count(*) from pmcrm_data.tasks").fetchone()[0] == len(sandbox.truth("tasks"))


def test_sync_reads_the_key_from_dlt_secrets(sandbox, tmp_path):
    """A fresh process, as a user runs it: dlt reads .dlt/ of the working folder once."""
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(f'[sources.pmcrm]\napi_key = "{sandbox.api_key}"\n')
    pmcrm = Path(sys.executable).with_name("pmcrm")
    args = ["sync", "--base-url", sandbox.base_url, "--duckdb-file", "cli.duckdb", "--resources", "emails"]
    done = subprocess.run([pmcrm, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sandbox.api_key not in done.stdout + done.stderr


def test_sync_with_a_wrong_key_exits_2_and_creates_no_data_tables(sandbox):
    result = invoke(*sync_args(sandbox, "--api-key", "wrong-key-42"))
    assert result.exit_code == 2
    assert "API error 11" in result.output and "Check the API key" in result.output
    assert "wrong-key-42" not in result.output
    assert "rows read" not in result.output and "into DuckDB" not in result.output, \
        "no empty table, no destination it never reached: the error line says it all"
    with duckdb.connect("cli.duckdb") as db:
        tables = db.sql("select table_name from information_schema.tables where table_schema = 'pmcrm_data'").fetchall()
    assert [t for (t,) in tables if not t.startswith("_")] == [], "only dlt's and the runs log"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--resources", "tasks,nope"], "unknown resource(s): nope"),
        (["--start-date", "yesterday"], "--start-date"),
        (["--server-sort", "updated_asc"], "PARAM=VALUE"),
    ],
)
def test_bad_options_fail_with_exit_2_before_any_request(sandbox, args, message):
    sandbox.reset_stats()
    result = invoke(*sync_args(sandbox, *args))
    assert result.exit_code == 2 and message in result.output
    assert sandbox.stats()["requests"] == 0


def test_sync_without_base_url_says_where_to_set_it():
    result = invoke("sync", "--api-key", "x")
    assert result.exit_code == 2 and "PMCRM_BASE_URL" in result.output


def test_demo_syncs_the_sandbox_and_shows_example_queries():
    result = invoke("demo", "--rows", "30", "--duckdb-file", "demo.duckdb")
    assert result.exit_code == 0, result.output
    assert "sync complete" in result.output and "Leads and budget per pipeline" in result.output
    with duckdb.connect("demo.duckdb") as db:
        assert db.execute("select count(*) from pmcrm_data.tasks").fetchone()[0] == 30
