"""Running a sync: the dlt pipeline, the destination, and the run summary.

Library first: `run_sync(SyncRequest(...))` is what `pmcrm sync` and `pmcrm demo` call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import dlt
from dlt.common.destination import Destination
from dlt.pipeline.exceptions import PipelineStepFailed

from pmcrm.client import RequestStats
from pmcrm.deletions import DeletionMode, ReadLedger, apply_deletions
from pmcrm.errors import PmcrmError
from pmcrm.redact import redact, register_secret
from pmcrm.source import pmcrm_source

DEFAULT_DATASET = "pmcrm_data"  # not "pmcrm": DuckDB names the catalog after the file
DEFAULT_DUCKDB_FILE = "pmcrm.duckdb"
DEFAULT_PIPELINE = "pmcrm"


@dataclass
class SyncRequest:
    """Everything one sync needs; every field has a CLI option of the same name."""

    base_url: str
    api_key: str
    resources: Sequence[str] | None = None
    destination: str = "duckdb"
    duckdb_file: str = DEFAULT_DUCKDB_FILE
    dataset: str = DEFAULT_DATASET
    pipeline_name: str = DEFAULT_PIPELINE
    pipelines_dir: str | None = None
    full_refresh: bool = False
    deletions: DeletionMode = "mark"
    source_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyncResult:
    ok: bool
    duration: float
    stats: RequestStats
    rows: dict[str, int]
    error: str | None = None
    exit_code: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)


def make_destination(name: str, duckdb_file: str = DEFAULT_DUCKDB_FILE) -> Any:
    """DuckDB goes to a file in the current folder; any other dlt destination by name,
    with its credentials from dlt's config (`DESTINATION__POSTGRES__CREDENTIALS`, ...)."""
    if name == "duckdb":
        return dlt.destinations.duckdb(duckdb_file)
    return Destination.from_reference(name)


# Formats that keep '' distinct from NULL and load fast, best first. Postgres takes
# parquet only through the optional ADBC driver, and its CSV path turns '' into NULL.
_PREFERRED_FORMATS = ("parquet", "insert_values")


def loader_file_format(destination: Any) -> str | None:
    """Parquet where the destination loads it natively: far faster than SQL inserts."""
    if destination.destination_type.endswith("postgres"):
        return "insert_values"
    formats = destination.capabilities().supported_loader_file_formats
    return next((f for f in _PREFERRED_FORMATS if f in formats), None)


def make_pipeline(request: SyncRequest) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=request.pipeline_name,
        destination=make_destination(request.destination, request.duckdb_file),
        dataset_name=request.dataset,
        pipelines_dir=request.pipelines_dir,
    )


def find_pmcrm_error(exc: BaseException) -> PmcrmError | None:
    """The PmcrmError that caused a dlt failure, if any (dlt wraps resource errors)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PmcrmError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def supports_sql(pipeline: dlt.Pipeline) -> bool:
    return not pipeline.destination.destination_type.endswith("filesystem")


def discard_failed_run(pipeline: dlt.Pipeline) -> None:
    """Forget a failed run's pending packages and local state: the next run restores
    state from the destination, i.e. from the last load that fully succeeded, so no
    incremental cursor moves past data that was not loaded."""
    pipeline.drop()


def run_sync(request: SyncRequest) -> SyncResult:
    """Extract, normalize, load, then handle deletions; never reports success after an error."""
    register_secret(request.api_key)
    stats, ledger = RequestStats(), ReadLedger()
    started = time.monotonic()
    pipeline = make_pipeline(request)
    source = pmcrm_source(
        base_url=request.base_url,
        api_key=request.api_key,
        resources=list(request.resources) if request.resources else None,
        stats=stats,
        ledger=ledger,
        track_deletions=request.deletions != "keep",
        **request.source_options,
    )
    file_format = loader_file_format(pipeline.destination)
    notes: list[str] = []
    try:
        pipeline.run(
            source,
            loader_file_format=file_format,
            refresh="drop_resources" if request.full_refresh else None,
        )
        written = rows_written(pipeline, source.resources.keys())
        deleted: dict[str, int] = {}
        if supports_sql(pipeline):
            deleted = apply_deletions(pipeline, ledger, request.deletions, file_format)
        elif request.deletions != "keep":
            notes.append("deletions not applied: the destination has no SQL")
    except PipelineStepFailed as exc:
        discard_failed_run(pipeline)
        cause = find_pmcrm_error(exc)
        message = str(cause) if cause else f"{exc.step} failed: {exc.exception}"
        return SyncResult(
            ok=False,
            duration=time.monotonic() - started,
            stats=stats,
            rows=dict(stats.rows),
            error=redact(message),
            exit_code=cause.exit_code if cause else 1,
        )
    return SyncResult(
        True,
        time.monotonic() - started,
        stats,
        dict(stats.rows),
        deleted={table: n for table, n in deleted.items() if n},
        notes=notes,
        written=written,
    )


def rows_written(pipeline: dlt.Pipeline, tables) -> dict[str, int]:
    """Rows this run wrote per table (after incremental filtering), from dlt's trace."""
    info = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    counts = info.row_counts if info else {}
    return {table: counts.get(table, 0) for table in tables}


@dataclass
class CheckResult:
    ok: bool
    message: str
    exit_code: int = 0


CHECK_RESOURCE = "loss_reason"  # small everywhere: one row proves URL and key


def check_connection(base_url: str, api_key: str, path_prefix: str = "", timeout: float = 15.0) -> CheckResult:
    """One cheap request (one row of one small resource) that proves URL and key work."""
    from pmcrm.client import ApiClient, HttpSettings
    from pmcrm.declarations import RESOURCES_BY_NAME
    from pmcrm.source import api_path

    spec = RESOURCES_BY_NAME[CHECK_RESOURCE]
    client = ApiClient(base_url, api_key, HttpSettings(timeout=timeout, max_attempts=2, jitter=0.2))
    try:
        page = client.fetch_page(spec.name, api_path(spec, path_prefix), 1, 1)
    except PmcrmError as exc:
        return CheckResult(False, str(exc), exc.exit_code)
    return CheckResult(True, f"OK: {redact(base_url)} answered; key accepted ({page.total} {spec.name} rows)")
