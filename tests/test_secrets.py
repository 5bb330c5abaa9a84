"""The API key appears nowhere pmcrm writes: not in logs (at DEBUG, where urllib3 logs
every URL), exceptions, traces, progress lines, the summary, dlt's state, trace file,
schemas or load packages, the run log, nor the database - in any encoding (as is,
URL-encoded, JSON-escaped), also inside compressed files, parquet files and dlt's
compressed state. Checked by running `pmcrm sync` as a real process, with faults on
(retries log URLs), once to success and once to failure, then reading every byte.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb
import pyarrow.parquet as pq
import pytest
from dlt.common.versioned_state import decompress_state

from pmcrm.pipeline import run_sync
from pmcrm.sandbox import FAULT_KINDS, Sandbox, SandboxOptions
from tests.conftest import ROWS_FOR
from tests.helpers import sync_request

# Characters that URL-encode, JSON-escape and redact differently, on purpose.
KEY = "s3cr3t Kéy/with+special&chars=?#%"
PMCRM = str(Path(sys.executable).with_name("pmcrm"))  # the installed command
FORMS = {KEY, quote(KEY), quote(KEY, safe=""), quote_plus(KEY), json.dumps(KEY)[1:-1],
         json.dumps(KEY, ensure_ascii=False)[1:-1]}


def run_cli(api, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DLT_DATA_DIR=str(tmp_path / "dlt"), PMCRM_API_KEY=KEY)
    args = [PMCRM, "--log-level", "DEBUG", "sync", "--base-url", api.base_url,
            "--duckdb-file", str(tmp_path / "secrets.duckdb"), "--timeout", "0.8", *extra]
    return subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def decoded(path: Path):
    """Every readable form of a file: its bytes, and what compression or format hides."""
    data = path.read_bytes()
    yield data
    if data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    if path.suffix == ".parquet":
        yield repr(pq.read_table(path).to_pylist()).encode()
    if path.suffix == ".duckdb":
        yield from database_text(path)


def database_text(path: Path):
    with duckdb.connect(str(path), read_only=True) as db:
        for schema, table in db.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall():
            rows = db.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            yield repr(rows).encode()
            if table == "_dlt_pipeline_state":
                columns = [d[0] for d in db.execute(f'SELECT * FROM "{schema}"."{table}" LIMIT 0').description]
                for row in rows:
                    yield repr(decompress_state(row[columns.index("state")])).encode()


def assert_no_key(label: str, data: bytes) -> None:
    for form in FORMS:
        assert form.encode() not in data, f"the API key ({form!r}) appears in {label}"


def assert_nothing_written_holds_the_key(tmp_path: Path, *outputs: subprocess.CompletedProcess) -> int:
    for number, output in enumerate(outputs):
        assert_no_key(f"stdout of run {number}", output.stdout.encode())
        assert_no_key(f"stderr of run {number}", output.stderr.encode())
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    for path in files:
        for data in decoded(path):
            assert_no_key(str(path.relative_to(tmp_path)), data)
    return len(files)


@pytest.fixture
def api():
    options = SandboxOptions(seed=4, rows=61, rows_per_resource=ROWS_FOR, api_key=KEY, fault_rate=0.2,
                             fault_kinds=FAULT_KINDS, stall_seconds=1.0, rate_limit=40)
    with Sandbox(options) as sandbox:
        yield sandbox


def test_the_key_is_in_no_output_log_file_or_table_after_syncs_through_faults(api, tmp_path, report_line):
    ok = run_cli(api, tmp_path, "--max-attempts", "6")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "api_key=***" in ok.stderr, "request URLs were logged, masked"
    assert list((tmp_path / "dlt").rglob("trace.pickle")) and list((tmp_path / "dlt").rglob("*.parquet"))
    files = assert_nothing_written_holds_the_key(tmp_path, ok)  # the run's packages, state, trace
    failed = run_cli(api, tmp_path, "--resources", "tasks,invoice_items", "--full-refresh", "--max-attempts", "1")
    assert failed.returncode == 1 and "resource '" in failed.stderr, failed.stderr[-3000:]
    files += assert_nothing_written_holds_the_key(tmp_path, failed)
    served = api.stats()
    assert sum(served["faults"].values()) > 0
    report_line(f"secrets: 2 CLI syncs at DEBUG through {sum(served['faults'].values())} faults; "
                f"key in none of {len(ok.stderr.splitlines()) + len(failed.stderr.splitlines())} log lines "
                f"nor {files} files read (raw, gzip, parquet, DuckDB tables, dlt state)")


def test_used_as_a_library_the_key_is_masked_in_every_log_record(api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    request = sync_request(api, tmp_path, resources=["tasks", "emails"],
                           timeout=0.8, backoff_factor=0.02)
    result = run_sync(request)
    assert result.ok, result.error
    assert any("api_key=***" in record.getMessage() for record in caplog.records), "URLs were logged"
    assert_no_key("log records", caplog.text.encode())
