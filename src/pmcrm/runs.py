"""What a run produced: its `SyncResult`, the summary `--json` prints, and the row kept in
`_pmcrm_runs`.

Every run that started, successful or not, appends one row to `_pmcrm_runs` in the
destination, so a dashboard can show sync health next to the data. The row is written by
a small pipeline of its own (`<pipeline>_runs`): a failed run's own pipeline has just been
discarded with everything it extracted, and none of that may load with the failure row.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dlt

from pmcrm.errors import SyncFailedError
from pmcrm.redact import redact
from pmcrm.transport import RequestStats


@dataclass
class SyncResult:
    """What a sync did - the same the CLI prints and `_pmcrm_runs` keeps. `ok` is False
    and `exit_code` non-zero when any selected resource did not load completely (1: the
    next run may succeed; 2: a human must act); `raise_for_failure()` turns that into a
    `SyncFailedError` for callers that prefer exceptions (Airflow, Dagster)."""

    ok: bool
    duration: float
    stats: RequestStats
    rows: dict[str, int]  # rows read per table
    error: str | None = None
    exit_code: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)  # rows written per table
    run_id: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # resource -> why it was skipped
    pipeline_name: str = ""
    destination: str = ""
    dataset: str = ""
    location: str = ""  # where the data went, in words (Target.describe)
    modes: dict[str, str] = field(default_factory=dict)  # table -> incremental | full | snapshot

    def raise_for_failure(self) -> SyncResult:
        if not self.ok:
            raise SyncFailedError(self)
        return self

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary (what `pmcrm sync --json` prints)."""
        return run_summary(self)


RUNS_TABLE = "_pmcrm_runs"

# JSON-valued fields are stored as text: every destination (files included) can hold it.
_JSON_FIELDS = ("tables", "retries_by_reason", "bad_values", "notes", "unavailable")
RUNS_COLUMNS: dict[str, dict[str, Any]] = {
    "run_id": {"data_type": "text", "nullable": False},
    "pipeline_name": {"data_type": "text"},
    "destination": {"data_type": "text"},
    "dataset": {"data_type": "text"},
    "status": {"data_type": "text", "nullable": False},
    "exit_code": {"data_type": "bigint"},
    "started_at": {"data_type": "timestamp", "timezone": True},
    "finished_at": {"data_type": "timestamp", "timezone": True},
    "duration_seconds": {"data_type": "double"},
    "rows_read": {"data_type": "bigint"},
    "rows_written": {"data_type": "bigint"},
    "requests": {"data_type": "bigint"},
    "retries": {"data_type": "bigint"},
    "error": {"data_type": "text"},
    **{name: {"data_type": "text"} for name in _JSON_FIELDS},
}


def run_summary(result: SyncResult) -> dict[str, Any]:
    """The machine-readable summary of one run (what `pmcrm sync --json` prints)."""
    names = sorted(set(result.rows) | set(result.written) | set(result.deleted))
    tables = {
        name: {
            "rows_read": result.rows.get(name, 0),
            "rows_written": result.written.get(name, 0),
            "deleted": result.deleted.get(name, 0),
            "mode": result.modes.get(name),
        }
        for name in names
    }
    return {
        "run_id": result.run_id,
        "pipeline_name": result.pipeline_name,
        "destination": result.destination,
        "dataset": result.dataset,
        "location": result.location,
        "status": "success" if result.ok else "failed",
        "exit_code": result.exit_code,
        "started_at": result.started_at.isoformat() if result.started_at else None,
        "finished_at": result.finished_at.isoformat() if result.finished_at else None,
        "duration_seconds": round(result.duration, 3),
        "rows_read": sum(result.rows.values()),
        "rows_written": sum(result.written.values()),
        "requests": result.stats.requests,
        "retries": result.stats.total_retries,
        "retries_by_reason": dict(sorted(result.stats.retries.items())),
        "bad_values": dict(sorted(result.stats.bad_values.items())),
        "tables": tables,
        "unavailable": dict(result.unavailable),  # resource -> why it was skipped
        "error": redact(result.error) if result.error else None,
        "notes": [redact(note) for note in result.notes],
    }


def runs_row(result: SyncResult) -> dict[str, Any]:
    """The summary as one `_pmcrm_runs` row: real timestamps, nested parts as JSON text."""
    row = run_summary(result)
    row.update(started_at=result.started_at, finished_at=result.finished_at)
    for name in _JSON_FIELDS:
        row[name] = json.dumps(row[name], sort_keys=True)
    return row


def record_run(pipeline: dlt.Pipeline, row: dict[str, Any], sql: bool = False, **run_options: Any) -> str | None:
    """Append `row` to `_pmcrm_runs` with `pipeline`. Never raises: a run whose summary
    cannot be stored (often the destination that just failed it) keeps its own outcome,
    and gets back a note saying why the row is missing. On a SQL destination whose table
    already has every column, one INSERT does it (`insert_row`); else dlt's own run."""
    try:
        if sql and not pipeline.has_pending_data and insert_row(pipeline, row):
            return None
        resource = dlt.resource([row], name=RUNS_TABLE, write_disposition="append", columns=RUNS_COLUMNS)
        if pipeline.has_pending_data:  # a killed run's row: dlt would load only that one
            pipeline.run(loader_file_format=run_options.get("loader_file_format"))
        pipeline.run(resource, **run_options)
    except Exception as exc:  # noqa: BLE001 - reported, never masks the sync's own result
        pipeline.drop()  # no pending package may linger into the next run
        return redact(f"run not recorded in {RUNS_TABLE}: {exc}")
    return None


def insert_row(pipeline: dlt.Pipeline, row: dict[str, Any]) -> bool:
    """The row as one INSERT, when the table exists with every column (False otherwise,
    and nothing written). Why: a whole dlt run for one row took ~0.4 s of every sync
    (extract, normalize, load, state), a tenth of a small sync (benchmarks/README.md)."""
    if not pipeline.default_schema_name or RUNS_TABLE not in pipeline.default_schema.tables:
        return False  # the first row: dlt creates the table
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(RUNS_TABLE)
        try:
            with client.execute_query(f"SELECT * FROM {table} WHERE 1 = 0") as cursor:
                existing = {column[0] for column in cursor.description}
        except Exception:  # noqa: BLE001 - no table (a dropped dataset): dlt's own run recreates it
            return False
        values = {**row, "_dlt_load_id": f"{time.time():.6f}", "_dlt_id": uuid.uuid4().hex[:14]}
        if not set(values) <= existing:
            return False  # a column this version adds: dlt's run evolves the table
        names = list(values)
        columns = ", ".join(client.escape_column_name(name) for name in names)
        client.execute_sql(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})",
                           *[values[name] for name in names])
    return True
