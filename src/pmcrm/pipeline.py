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
    source_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyncResult:
    ok: bool
    duration: float
    stats: RequestStats
    rows: dict[str, int]
    error: str | None = None
    exit_code: int = 0


def make_destination(name: str, duckdb_file: str = DEFAULT_DUCKDB_FILE) -> Any:
    """DuckDB goes to a file in the current folder; any other dlt destination by name,
    with its credentials from dlt's config (`DESTINATION__POSTGRES__CREDENTIALS`, ...)."""
    if name == "duckdb":
        return dlt.destinations.duckdb(duckdb_file)
    return Destination.from_reference(name)


def loader_file_format(destination: Any) -> str | None:
    """Parquet where the destination takes it: far faster than SQL inserts."""
    formats = destination.capabilities().supported_loader_file_formats
    return "parquet" if "parquet" in formats else None


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


def run_sync(request: SyncRequest) -> SyncResult:
    """Extract, normalize and load; never reports success after an error."""
    register_secret(request.api_key)
    stats = RequestStats()
    started = time.monotonic()
    pipeline = make_pipeline(request)
    source = pmcrm_source(
        base_url=request.base_url,
        api_key=request.api_key,
        resources=list(request.resources) if request.resources else None,
        stats=stats,
        **request.source_options,
    )
    try:
        pipeline.run(source, loader_file_format=loader_file_format(pipeline.destination))
    except PipelineStepFailed as exc:
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
    return SyncResult(True, time.monotonic() - started, stats, dict(stats.rows))


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
