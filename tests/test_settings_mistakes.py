"""A mistake in the settings is a settings error: exit 2 before any request, one line that
says what is wrong and how to fix it, and with --json always one JSON document. Ctrl-C
ends with one line that says what of the run was loaded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import dlt
import pytest

from pmcrm.errors import SettingsError
from pmcrm.sandbox import Sandbox, SandboxOptions
from pmcrm.source import pmcrm_source
from pmcrm.transport import HttpSettings
from tests.helpers import invoke, sync_args
from tests.truth import assert_table_equals_truth

MISTAKES = [
    (["--destination", "duckdbb"], "unknown destination 'duckdbb': use one of duckdb, postgres, filesystem"),
    (["--destination", "postgres"], "--destination postgres has no credentials (credentials missing): set "
                                    "DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/database"),
    (["--timezone", "Berlin"], "unknown time zone 'Berlin': use an IANA zone such as Europe/Berlin"),
    (["--start-date", "31.01.2024"], "--start-date '31.01.2024': use YYYY-MM-DD"),
    (["--resources", "tasks,taks"], "unknown resource(s): taks. Run 'pmcrm resources' for the list."),
    (["--api-key", "x"], "the API key is only 1 character(s) long: that is not a key"),
    (["--server-sort", "updated"], "--server-sort takes PARAM=VALUE"),
    (["--rate-limit", "-3"], "--rate-limit -3.0: must be above 0 requests per second (leave it out for no cap)"),
    (["--rate-limit", "0"], "--rate-limit 0.0: must be above 0"),
    (["--timeout", "-1"], "--timeout -1.0: must be above 0 seconds"),
    (["--max-attempts", "0"], "--max-attempts 0: must be at least 1"),
    (["--concurrency", "0", "--timeout", "0"], "--timeout 0.0: must be above 0 seconds; --concurrency 0: must be at least 1"),
]


@pytest.mark.parametrize("flags, says", MISTAKES, ids=[" ".join(flags) for flags, _ in MISTAKES])
def test_a_settings_mistake_exits_2_before_any_request_in_one_line(sandbox, monkeypatch, flags, says):
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    sandbox.reset_stats()
    result = invoke(*sync_args(sandbox, *flags))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"], "one line"
    assert says in result.stderr
    assert sandbox.stats()["requests"] == 0


def test_the_source_used_as_a_library_refuses_the_same_request_settings_before_any_request(sandbox):
    sandbox.reset_stats()
    with pytest.raises(SettingsError, match="--rate-limit 0: must be above 0"):
        pmcrm_source(base_url=sandbox.base_url, api_key=sandbox.api_key, http_settings=HttpSettings(rate_limit=0))
    assert sandbox.stats()["requests"] == 0


@pytest.mark.parametrize("flags, says", MISTAKES[:3], ids=["destination", "credentials", "timezone"])
def test_with_json_a_settings_mistake_is_still_one_json_document(sandbox, monkeypatch, flags, says):
    monkeypatch.delenv("DESTINATION__POSTGRES__CREDENTIALS", raising=False)
    result = invoke(*sync_args(sandbox, *flags, "--json"))
    document = json.loads(result.stdout)
    assert document["status"] == "failed" and document["exit_code"] == 2 and says in document["error"]


def test_a_base_url_without_scheme_says_to_add_it():
    result = invoke("sync", "--base-url", "127.0.0.1:8080", "--api-key", "long-enough-key")
    assert result.exit_code == 2
    assert "add http:// or https://" in result.stderr and "No connection adapters" not in result.output


def test_an_unexpected_failure_is_one_line_and_still_json(sandbox, monkeypatch):
    def broken(request):
        raise RuntimeError("something deep broke\nwith a second line")

    monkeypatch.setattr("pmcrm.cli.sync.run_sync", broken)
    result = invoke(*sync_args(sandbox, "--json"))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith("unexpected RuntimeError: something deep broke (run with")
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def interrupt_at(monkeypatch, step: str) -> None:
    real = getattr(dlt.Pipeline, step)

    def interrupted(self, *args, **kwargs):
        if self.pipeline_name == "pmcrm":  # the sync's own pipeline, not the runs table's
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(dlt.Pipeline, step, interrupted)


def test_ctrl_c_while_reading_loads_nothing_and_says_so(sandbox, monkeypatch):
    interrupt_at(monkeypatch, "extract")
    result = invoke(*sync_args(sandbox, "--resources", "tasks", "--json"))
    assert result.exit_code == 130
    assert json.loads(result.stdout)["status"] == "interrupted"
    assert result.stderr.strip() == "error: interrupted while reading; nothing of this run was loaded"


def test_a_real_ctrl_c_in_the_middle_of_the_read_is_told_as_an_interrupt(tmp_path):
    # A Ctrl-C that strikes inside dlt's extract reaches pmcrm wrapped in dlt's
    # PipelineStepFailed (the tests above raise it around the step, not inside).
    with Sandbox(SandboxOptions(seed=3, rows=400, latency=0.2)) as slow_api:
        syncing = subprocess.Popen(
            [sys.executable, "-m", "pmcrm", "sync", "--base-url", slow_api.base_url, "--duckdb-file", "x.duckdb",
             "--json"], cwd=tmp_path, env={**os.environ, "PMCRM_API_KEY": slow_api.api_key},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while slow_api.stats()["pages"] < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        syncing.send_signal(signal.SIGINT)
        out, err = syncing.communicate(timeout=60)
    assert syncing.returncode == 130, err
    assert json.loads(out)["status"] == "interrupted"
    assert err.strip().splitlines()[-1] == "error: interrupted while reading; nothing of this run was loaded"


def test_ctrl_c_while_loading_is_finished_by_the_next_run(sandbox, monkeypatch):
    with monkeypatch.context() as interrupting:  # only the interrupt is undone, not the test's folders
        interrupt_at(interrupting, "load")
        result = invoke(*sync_args(sandbox, "--resources", "tasks"))
    assert result.exit_code == 130
    assert "interrupted while loading; the next run finishes this run's load" in result.stderr
    again = invoke(*sync_args(sandbox, "--resources", "tasks", "--json"))
    assert again.exit_code == 0, again.output
    pipeline = dlt.pipeline("pmcrm", destination=dlt.destinations.duckdb("cli.duckdb"), dataset_name="pmcrm_data")
    assert_table_equals_truth(pipeline, "tasks", sandbox.truth("tasks"))
