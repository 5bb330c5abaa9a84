"""Running a sync: the dlt pipeline, the destination, and the run summary.

Library first: `run_sync(SyncRequest(...))` is what `pmcrm sync` and `pmcrm demo` call.
"""

from __future__ import annotations

import importlib.util
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

import dlt
from dlt.common.destination import Destination
from dlt.destinations.exceptions import DatabaseException
from dlt.extract.exceptions import PipeException
from dlt.load.exceptions import LoadClientJobException
from dlt.pipeline.exceptions import PipelineStepFailed

from pmcrm.client import URL_SHAPE_CODES, RequestStats
from pmcrm.deletions import DeletionMode, ReadLedger, apply_deletions
from pmcrm.errors import NothingReadableError, PmcrmError
from pmcrm.findings import RunFindings
from pmcrm.lock import pipeline_lock
from pmcrm.progress import Progress
from pmcrm.redact import redact, register_secret
from pmcrm.runs import record_run, runs_row
from pmcrm.source import pmcrm_source
from pmcrm.tuning import (
    append_first_loads,
    dlt_settings,
    duckdb_credentials,
    lean_allocators,
    without_tables,
)
from pmcrm.views import drop_views, install_views

DEFAULT_DATASET = "pmcrm_data"  # not "pmcrm": DuckDB names the catalog after the file
DEFAULT_DUCKDB_FILE = "pmcrm.duckdb"
DEFAULT_PIPELINE = "pmcrm"
DEFAULT_BUCKET_URL = "pmcrm_files"  # filesystem destination: a folder in the current one
TABLE_FORMATS = ("parquet", "delta")  # filesystem: plain parquet files, or Delta tables


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
    bucket_url: str | None = None  # filesystem only; else dlt config, else ./pmcrm_files
    table_format: str = "parquet"  # filesystem only: "parquet" (snapshots) or "delta" (merges)
    strict: bool = False  # any unavailable resource fails the run, not only those named
    progress: Progress | None = field(default=None, repr=False, compare=False)


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
    run_id: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # resource -> why it was skipped


# Snapshot (replace) tables go to the staging dataset first and are swapped in by one
# transaction. dlt's default, truncate-and-insert, empties them when the load starts, so a
# load that failed later left `pipeline` and `st_projects_users` empty.
ATOMIC_REPLACE = "insert-from-staging"


def make_destination(name: str, duckdb_file: str = DEFAULT_DUCKDB_FILE, bucket_url: str | None = None) -> Any:
    """DuckDB goes to a file in the current folder; filesystem to `bucket_url` (a folder,
    or s3://, gs://, az://... with credentials from dlt's config); any other dlt
    destination by name, with its credentials from dlt's config
    (`DESTINATION__POSTGRES__CREDENTIALS`, ...)."""
    if name == "duckdb":
        return dlt.destinations.duckdb(duckdb_credentials(duckdb_file), replace_strategy=ATOMIC_REPLACE)
    if name == "filesystem":
        url = bucket_url or dlt.config.get("destination.filesystem.bucket_url") or DEFAULT_BUCKET_URL
        return dlt.destinations.filesystem(bucket_url=url if "://" in url else os.path.abspath(url))
    destination = Destination.from_reference(name)
    if ATOMIC_REPLACE in destination.capabilities().supported_replace_strategies:
        destination = Destination.from_reference(name, replace_strategy=ATOMIC_REPLACE)
    return destination


def check_destination_options(request: SyncRequest) -> None:
    """Reject file options on a database, and Delta without its package, before any work."""
    if request.table_format not in TABLE_FORMATS:
        raise ValueError(f"unknown table format '{request.table_format}'; choose from {', '.join(TABLE_FORMATS)}")
    if request.destination != "filesystem" and (request.bucket_url or request.table_format != "parquet"):
        raise ValueError("--bucket-url and --table-format apply to --destination filesystem only")
    if request.table_format == "delta" and importlib.util.find_spec("deltalake") is None:
        raise ValueError("Delta tables need the deltalake package: pip install 'pmcrm[delta]'")


def writes_plain_files(request: SyncRequest) -> bool:
    """Plain parquet cannot merge or update rows in place, so every sync writes each
    table as a full snapshot (replace, no incremental cursor, deleted rows simply gone);
    Delta tables merge like a database."""
    return request.destination == "filesystem" and request.table_format == "parquet"


def _run_options(request: SyncRequest) -> dict[str, Any]:
    """`pipeline.run` arguments that depend on the destination."""
    if request.destination != "filesystem":
        return {}
    if writes_plain_files(request):
        return {"write_disposition": "replace"}
    return {"table_format": request.table_format}


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
        destination=make_destination(request.destination, request.duckdb_file, request.bucket_url),
        dataset_name=request.dataset,
        pipelines_dir=request.pipelines_dir,
    )


def find_pmcrm_error(exc: BaseException) -> PmcrmError | None:
    """The PmcrmError that caused a dlt failure, if any (dlt wraps resource errors)."""
    return next((e for e in _causes(exc) if isinstance(e, PmcrmError)), None)


def supports_sql(pipeline: dlt.Pipeline) -> bool:
    return not pipeline.destination.destination_type.endswith("filesystem")


def discard_failed_run(pipeline: dlt.Pipeline) -> None:
    """Forget a failed run's pending packages and local state: the next run restores
    state from the destination, i.e. from the last load that fully succeeded, so no
    incremental cursor moves past data that was not loaded."""
    pipeline.drop()


def finish_pending_packages(pipeline: dlt.Pipeline, file_format: str | None) -> str | None:
    """Load what a killed run left extracted or normalized (complete packages, whose state
    the local cursor already counts) before this run reads anything. Without this, dlt's
    `run` would load them and return without reading the API, and the sync would report
    success with nothing new loaded. Packages that cannot be finished (a kill inside dlt's
    commit can leave one half-moved) are discarded like a failed run's; returns a note."""
    if not pipeline.has_pending_data:
        return None
    try:
        pipeline.run(loader_file_format=file_format)
    except PipelineStepFailed as exc:
        discard_failed_run(pipeline)
        return redact(f"an interrupted run's pending data could not be loaded and was discarded "
                      f"(this run read it again): {failure_message(exc)}")
    return None


def failure_message(exc: PipelineStepFailed) -> str:
    """One line that names what failed: pmcrm's own error, else the table whose load job
    failed, else the innermost cause (not dlt's wrapper, whose text is a traceback)."""
    cause = find_pmcrm_error(exc)
    if cause is not None:
        return str(cause)
    job = next((e for e in _causes(exc) if isinstance(e, LoadClientJobException)), None)
    if job is not None:
        inner = job.client_exception
        return f"loading table '{job.job_id.split('.')[0]}' failed: {type(inner).__name__}: {inner}"
    chain = list(_causes(exc))
    inner = chain[-1]
    pipe = next((e.pipe_name for e in chain if isinstance(e, PipeException)), None)
    where = f"resource '{pipe}': " if pipe else ""
    return f"{where}{exc.step} failed: {type(inner).__name__}: {inner}"


def _causes(exc: BaseException):
    seen: set = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def run_sync(request: SyncRequest) -> SyncResult:
    """One sync under the pipeline's lock; its summary is appended to `_pmcrm_runs` in the
    destination whether it succeeded or failed. Raises `LockHeldError` (exit code 3) at
    once if another run of the same pipeline holds the lock, ValueError for bad options."""
    register_secret(request.api_key)
    check_destination_options(request)
    lean_allocators()
    with pipeline_lock(request.pipeline_name, request.pipelines_dir):
        started_at = datetime.now(timezone.utc)
        result = _sync(request)
        result.run_id, result.started_at = uuid.uuid4().hex, started_at
        result.finished_at = datetime.now(timezone.utc)
        runs_pipeline = dlt.pipeline(
            pipeline_name=f"{request.pipeline_name}_runs",
            destination=make_destination(request.destination, request.duckdb_file, request.bucket_url),
            dataset_name=request.dataset,
            pipelines_dir=request.pipelines_dir,
        )
        note = record_run(runs_pipeline, runs_row(result, request),
                          loader_file_format=loader_file_format(runs_pipeline.destination),
                          **_run_options(request))
        if note:
            result.notes.append(note)
    return result


def _sync(request: SyncRequest) -> SyncResult:
    """Extract, normalize, load, then handle deletions; never reports success after an error."""
    register_secret(request.api_key)
    stats, ledger, findings = RequestStats(), ReadLedger(), RunFindings()
    started = time.monotonic()
    pipeline = make_pipeline(request)
    source = pmcrm_source(
        base_url=request.base_url,
        api_key=request.api_key,
        resources=list(request.resources) if request.resources else None,
        stats=stats,
        ledger=ledger,
        progress=request.progress,
        findings=findings,
        **_source_options(request),
    )
    file_format = loader_file_format(pipeline.destination)
    notes: list[str] = []
    try:
        recovered = finish_pending_packages(pipeline, file_format)
        if recovered:
            notes.append(recovered)
        first_loads = append_first_loads(pipeline, source, request.full_refresh) if supports_sql(pipeline) else set()
        if request.full_refresh and supports_sql(pipeline):
            drop_views(pipeline)  # PostgreSQL refuses to drop tables that views read
        with dlt_settings(pipeline.destination.destination_type):
            pipeline.run(
                source,
                loader_file_format=file_format,
                refresh="drop_resources" if request.full_refresh else None,
                **_run_options(request),
            )
        written = rows_written(pipeline, source.resources.keys())
        deleted: dict[str, int] = {}
        if supports_sql(pipeline):
            deleted = apply_deletions(pipeline, without_tables(ledger, first_loads), request.deletions, file_format)
        elif request.deletions != "keep" and not writes_plain_files(request):
            notes.append("deletions not applied: the destination has no SQL")
        if supports_sql(pipeline):
            notes.extend(refresh_views(pipeline, request.source_options.get("timezone", "UTC")))
    except PipelineStepFailed as exc:
        discard_failed_run(pipeline)
        cause = find_pmcrm_error(exc)
        message = failure_message(exc)
        return SyncResult(
            ok=False,
            duration=time.monotonic() - started,
            stats=stats,
            rows=dict(stats.rows),
            error=redact(message),
            exit_code=cause.exit_code if cause else 1,
            notes=findings.notes(),
            unavailable=_reasons(findings),
        )
    selected = list(source.resources.keys())
    failure = unavailable_failure(findings, selected, request.resources, request.strict)
    return SyncResult(
        failure is None,
        time.monotonic() - started,
        stats,
        dict(stats.rows),
        deleted={table: n for table, n in deleted.items() if n},
        notes=findings.notes() + notes,
        written={table: n for table, n in written.items() if table not in findings.unavailable},
        error=failure.args[0] if failure else None,
        exit_code=failure.exit_code if failure else 0,
        unavailable=_reasons(findings),
    )


def _reasons(findings: RunFindings) -> dict[str, str]:
    return {name: found.reason for name, found in sorted(findings.unavailable.items())}


def unavailable_failure(findings: RunFindings, selected: list[str], named: Sequence[str] | None,
                        strict: bool) -> PmcrmError | None:
    """Whether skipped resources fail the run. Skipping is the point with the default
    selection (accounts enable apps one by one); but nothing readable at all is a wrong URL
    or key (exit 2), and a resource the user named, or any under `strict`, is a failure
    the next run may not fix by itself (exit 1). The other tables are loaded either way."""
    skipped = findings.unavailable
    if not skipped:
        return None
    if set(selected) <= set(skipped):
        return nothing_readable(findings)
    wanted = [name for name in skipped if strict or name in (named or ())]
    if not wanted:
        return None
    reasons = "; ".join(f"{name}: {skipped[name].reason}" for name in sorted(wanted))
    why = "--strict" if strict and not set(wanted) & set(named or ()) else "named in --resources"
    return PmcrmError(f"unavailable to this key ({why}): {reasons}. The other tables were loaded.")


def nothing_readable(findings: RunFindings) -> PmcrmError:
    codes = {found.code for found in findings.unavailable.values()}
    if codes <= URL_SHAPE_CODES:
        return NothingReadableError(
            f"every resource answered 'not found' or 'unknown module' at {findings.api_url}: the "
            "base URL is probably not the API's. Use the one from the platform's API docs, like "
            "https://<company>.<platform host>/api/v1/module (tried: " + ", ".join(findings.tried_urls) + ")"
        )
    reasons = sorted({found.reason for found in findings.unavailable.values()})
    return NothingReadableError(f"no selected resource is readable with this key ({'; '.join(reasons)}): "
                                "check the key's access rights in the platform")


def refresh_views(pipeline: dlt.Pipeline, timezone: str) -> list[str]:
    """Install the `v_*` views after a good load. The data is loaded by then, so a SQL
    dialect that cannot build a view is a note in the summary, not a failed sync."""
    try:
        result = install_views(pipeline, timezone)
    except DatabaseException as exc:
        return [f"views not installed: {redact(str(exc)).splitlines()[0]}"]
    return [f"view {name} skipped: tables {', '.join(tables)} not loaded" for name, tables in result.skipped.items()]


def _source_options(request: SyncRequest) -> dict[str, Any]:
    options = {"track_deletions": request.deletions != "keep", **request.source_options}
    if writes_plain_files(request):  # a full snapshot every run: see writes_plain_files
        options.update(incremental=False, track_deletions=False)
    return options


def rows_written(pipeline: dlt.Pipeline, tables) -> dict[str, int]:
    """Rows this run wrote per table (after incremental filtering), from dlt's trace."""
    info = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    counts = info.row_counts if info else {}
    return {table: counts.get(table, 0) for table in tables}
