"""Running the sandbox as a command and as a separate process."""

from __future__ import annotations

import subprocess
import sys

import orjson

from pmcrm.sandbox import DEFAULT_API_KEY, SandboxProcess
from pmcrm.sandbox.raw_client import SandboxClient


def start_command(*args: str) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen([sys.executable, "-m", "pmcrm.sandbox", "--port", "0", "--rows", "5", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip(), process.stdout.readline().strip()


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.terminate()
    out, err = process.communicate(timeout=10)
    return out, err


def test_the_first_line_is_the_url_and_the_default_key_is_printed_once():
    process, url, key_line = start_command()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert DEFAULT_API_KEY in key_line
        reply = SandboxClient(url, DEFAULT_API_KEY).get("/v1/task/tasks/list")
        assert orjson.loads(reply.body)["response"]["total"] == 5
    finally:
        out, err = stop(process)
    assert process.returncode in (0, -15)
    assert DEFAULT_API_KEY not in out + err


def test_a_chosen_key_is_never_echoed():
    process, url, key_line = start_command("--api-key", "s3cret-key-value")
    try:
        assert url.startswith("http://")
        assert "response" in orjson.loads(SandboxClient(url, "s3cret-key-value").get("/v1/crm/lead/list").body)
    finally:
        out, err = stop(process)
    assert "s3cret-key-value" not in key_line + out + err


def test_bad_flags_are_refused_with_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "pmcrm.sandbox", "--fault-kinds", "meteor"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "meteor" in result.stderr


def test_a_mistake_across_flags_is_told_in_flags_not_in_the_library_s_field_names():
    result = subprocess.run([sys.executable, "-m", "pmcrm.sandbox", "--rate-limit-shared", "2-6"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--rate-limit-shared takes half of a limit: give --rate-limit too" in result.stderr, result.stderr


def test_an_unknown_resource_in_rows_for_is_refused_before_the_server_starts():
    result = subprocess.run([sys.executable, "-m", "pmcrm.sandbox", "--rows-for", "nosuch=5"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "--rows-for: unknown resource or path: 'nosuch'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_sandbox_process_serves_the_same_data_as_in_process_and_takes_changes():
    with SandboxProcess(seed=3, rows=20, server_filter=True) as api:
        client = SandboxClient(api.base_url, api.api_key)
        assert client.all_rows("/v1/crm/lead/list", limit=7) == api.truth("lead")
        touched = api.touch(0.5, ["lead"])["/v1/crm/lead/list"]
        assert len(touched) == 10
        newest = max(row["updated_date"] for row in api.truth("lead"))
        assert {row["id"] for row in client.all_rows("/v1/crm/lead/list", updated_since=newest)} == set(touched)
        assert api.stats()["pages"] >= 4
        api.reset_stats()
        assert api.stats()["pages"] == 0
