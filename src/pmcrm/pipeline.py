"""Running a sync: the library's entry point, `run_sync(SyncRequest(...))`.

Everything a sync guarantees lives here, for a Python caller as for `pmcrm sync` (which
is one call to it): one run per pipeline (the lock), snapshot tables swapped in
atomically, deleted rows marked or removed, a failed run's package and state discarded
so no cursor moves past unloaded data, unavailable resources judged, views refreshed,
and one `_pmcrm_runs` row per run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.pipeline import NormalizeInfo
from dlt.destinations.exceptions import DatabaseException
from dlt.extract.exceptions import PipeException
from dlt.load.exceptions import LoadClientJobException
from dlt.pipeline.exceptions import PipelineStepFailed

from pmcrm.client import URL_SHAPE_CODES
from pmcrm.declarations import RESOURCES_BY_NAME
from pmcrm.deletions import DeletionMode, apply_deletions
from pmcrm.destinations import DestinationTraits, Target, require_credentials
from pmcrm.errors import NothingReadableError, PmcrmError, RunInterrupted, SettingsError
from pmcrm.findings import RunFindings
from pmcrm.first_loads import append_first_loads, without_tables
from pmcrm.load_settings import EXTRACT_SLOTS, DuckDbHold, dlt_settings
from pmcrm.lock import pipeline_lock
from pmcrm.memory import lean_allocators
from pmcrm.progress import NO_PROGRESS, Progress
from pmcrm.redact import redact, register_secret
from pmcrm.resolve_once import capabilities_once
from pmcrm.resource_state import PipelineState, pipeline_state, start_date_note
from pmcrm.runs import SyncResult, record_run, runs_row
from pmcrm.source import ReadOptions, RunRecord, pmcrm_source, select_resources
from pmcrm.transport import HttpSettings
from pmcrm.urls import candidate_locations, require_encryption
from pmcrm.views import drop_views, install_views

DEFAULT_PIPELINE = "pmcrm"
# Shorter than this is a typo or a placeholder, not an API key. It also keeps masking
# (pmcrm.redact) from eating ordinary words: a 1-letter "key" would mask every 'x'.
MIN_KEY_LENGTH = 8
# The typed parts of a SyncRequest, by the field that holds each.
REQUEST_PARTS = {"read": ReadOptions, "http": HttpSettings, "target": Target}


@dataclass
class SyncRequest:
    """Everything one sync needs. Each field, and each field of its parts (`read`, `http`,
    `target`), is named like its `pmcrm sync` flag (README, "Options: flag to field")."""

    base_url: str
    api_key: str
    resources: Sequence[str] | None = None  # None: all 36
    path_prefix: str = ""
    read: ReadOptions = field(default_factory=ReadOptions)
    http: HttpSettings = field(default_factory=HttpSettings)
    target: Target = field(default_factory=Target)
    pipeline_name: str = DEFAULT_PIPELINE
    pipelines_dir: str | None = None  # no flag: dlt's default, or DLT_DATA_DIR
    full_refresh: bool = False
    deletions: DeletionMode = "mark"
    strict: bool = False  # any unavailable resource fails the run, not only those named
    progress: Progress | None = field(default=None, repr=False, compare=False)  # no flag: the CLI's display

    @classmethod
    def from_flags(cls, **flags: Any) -> SyncRequest:
        """A request from values named like the flags (`timeout=`, `timezone=`,
        `destination=`...): each goes to the part that has a field of its name. The CLI
        builds its request this way, so a flag and its field cannot drift apart."""
        parts = {}
        for holder, part in REQUEST_PARTS.items():
            names = {f.name for f in fields(part)}
            parts[holder] = part(**{name: flags.pop(name) for name in list(flags) if name in names})
        return cls(**flags, **parts)


def make_pipeline(request: SyncRequest, destination=None) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=request.pipeline_name,
        destination=destination if destination is not None else request.target.make(),
        dataset_name=request.target.dataset,
        pipelines_dir=request.pipelines_dir,
    )


def find_pmcrm_error(exc: BaseException) -> PmcrmError | None:
    """The PmcrmError that caused a dlt failure, if any (dlt wraps resource errors)."""
    return next((e for e in _causes(exc) if isinstance(e, PmcrmError)), None)


def discard_failed_run(pipeline: dlt.Pipeline) -> None:
    """Forget a failed run's pending packages and local state: the next run restores
    state from the destination, i.e. from the last load that fully succeeded, so no
    incremental cursor moves past data that was not loaded."""
    pipeline.drop()


def finish_pending_packages(pipeline: dlt.Pipeline, traits: DestinationTraits) -> str | None:
    """Load what a killed run left extracted or normalized (complete packages, whose state
    the local cursor already counts) before this run reads anything. Without this, dlt's
    `run` would load them and return without reading the API, and the sync would report
    success with nothing new loaded. Packages that cannot be finished (a kill inside dlt's
    commit can leave one half-moved) are discarded like a failed run's; returns a note."""
    if not pipeline.has_pending_data:
        return None
    try:
        pipeline.run(loader_file_format=traits.file_format)
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
    once if another run of the same pipeline holds the lock, and `SettingsError` (2) for
    settings that cannot work, before any request; any other failure is in the result."""
    check_settings(request)
    with capabilities_once():
        return _recorded_sync(request)


def _recorded_sync(request: SyncRequest) -> SyncResult:
    """The sync under its lock, and its row in `_pmcrm_runs`."""
    destination = request.target.make()
    traits = request.target.traits(destination)
    require_credentials(lambda: make_pipeline(request, destination), request.target)
    lean_allocators()
    with pipeline_lock(request.pipeline_name, request.pipelines_dir), DuckDbHold() as hold:
        started_at = datetime.now(UTC)
        result = _sync(request, destination, traits, hold)
        result.run_id, result.started_at = uuid.uuid4().hex, started_at
        result.finished_at = datetime.now(UTC)
        result.pipeline_name, result.destination = request.pipeline_name, request.target.destination
        result.dataset, result.location = request.target.dataset, request.target.describe()
        runs_pipeline = dlt.pipeline(
            pipeline_name=f"{request.pipeline_name}_runs",
            destination=request.target.make(),
            dataset_name=request.target.dataset,
            pipelines_dir=request.pipelines_dir,
        )
        note = record_run(runs_pipeline, runs_row(result), traits.sql, **traits.run_kwargs())
        if note:
            result.notes.append(note)
        closing = hold.close()
        if closing:
            result.notes.append(redact(closing))
    return result


def read_state(request: SyncRequest) -> PipelineState:
    """Per selected resource: how it is written, its cursor, its last complete read and the
    rows its table holds; and the rate limit remembered - as the destination has them (state
    is restored from there first, as a sync would), under the pipeline's lock."""
    request.target.check()
    destination = request.target.make()
    traits = request.target.traits(destination)
    names = [spec.name for spec in select_resources(request.resources)]
    with pipeline_lock(request.pipeline_name, request.pipelines_dir):
        pipeline = make_pipeline(request, destination)
        pipeline.sync_destination()
        return pipeline_state(pipeline, traits, read_modes(names, request.read, traits), names)


def check_settings(request: SyncRequest) -> None:
    """Every setting that can be judged without a request, judged now: a mistake is one
    SettingsError (exit 2) that says how to fix it, before the lock and before any request."""
    register_secret(request.api_key)
    if len(request.api_key.strip()) < MIN_KEY_LENGTH:
        raise SettingsError(f"the API key is only {len(request.api_key.strip())} character(s) long: that is not a key "
                            f"(expected at least {MIN_KEY_LENGTH}); pass the whole key with --api-key or PMCRM_API_KEY")
    candidate_locations(request.base_url, request.path_prefix)
    require_encryption(request.base_url, request.http.allow_http)
    request.http.check()
    request.read.parsed()
    select_resources(request.resources)
    request.target.check()


def _sync(request: SyncRequest, destination, traits: DestinationTraits, hold: DuckDbHold) -> SyncResult:
    """Extract, normalize, load, then handle deletions; never reports success after an error.
    `hold` keeps a DuckDB file open from the load on (see DuckDbHold)."""
    record = RunRecord(progress=request.progress or NO_PROGRESS)
    stats, findings = record.stats, record.findings
    started = time.monotonic()
    pipeline = make_pipeline(request, destination)
    read = request.read if traits.incremental else replace(request.read, incremental=False)
    source = pmcrm_source(
        base_url=request.base_url,
        api_key=request.api_key,
        resources=list(request.resources) if request.resources else None,
        path_prefix=request.path_prefix,
        read_options=read,
        http_settings=request.http,
        # Plain files are a full snapshot every run: nothing to mark.
        track_deletions=request.deletions != "keep" and not traits.plain_files,
        run_record=record,
        adaptive_reads=True,
    )
    text = traits.text_filter(source)  # PostgreSQL: U+0000 removed from text, counted
    notes: list[str] = []
    try:
        recovered = finish_pending_packages(pipeline, traits)
        if recovered:
            notes.append(recovered)
        first_loads = append_first_loads(pipeline, source, request.full_refresh) if traits.sql else set()
        if request.full_refresh and traits.sql:
            drop_views(pipeline)  # PostgreSQL refuses to drop tables that views read
        if pipeline.config.restore_from_destination:
            pipeline.sync_destination()  # the cursors of the last good load, as `run` does
        note = start_date_note(pipeline, list(source.resources.keys()), read)
        if note:
            notes.append(note)
        steps = StepTracker(record.progress)
        try:
            with dlt_settings(traits.duckdb, traits.postgres):
                normalized = run_steps(pipeline, source, request.full_refresh, traits, steps, hold)
        except KeyboardInterrupt:
            raise interrupted(pipeline, steps.current) from None
        except PipelineStepFailed as failed:
            # dlt wraps a Ctrl-C that strikes inside its step (where it nearly always does).
            if isinstance(failed.exception, KeyboardInterrupt):
                raise interrupted(pipeline, steps.current) from None
            raise
        written = rows_written(normalized, source.resources.keys())
        deleted: dict[str, int] = {}
        if traits.marks_deletions:
            deleted = apply_deletions(pipeline, without_tables(record.ledger, first_loads), request.deletions,
                                      traits.file_format, duckdb=traits.duckdb)
        elif request.deletions != "keep" and not traits.plain_files:
            notes.append("deletions not applied: the destination has no SQL")
        if traits.sql:
            notes.extend(refresh_views(pipeline, request.read.timezone, bool(request.resources)))
        notes.extend(text.notes())
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
            modes=read_modes(list(source.resources.keys()), read, traits),
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
        modes=read_modes(selected, read, traits),
    )


def read_modes(tables: list[str], read: ReadOptions, traits: DestinationTraits) -> dict[str, str]:
    """How each table was written, for the summary: `incremental` (only rows changed since
    the cursor), `full` (every row read and merged again) or `snapshot` (replaced)."""
    modes = {}
    for name in tables:
        spec = RESOURCES_BY_NAME[name]
        if traits.plain_files or spec.write_disposition == "replace":
            modes[name] = "snapshot"
        else:
            modes[name] = "incremental" if read.incremental and spec.cursor else "full"
    return modes


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


def refresh_views(pipeline: dlt.Pipeline, timezone: str, selection: bool = False) -> list[str]:
    """Install the `v_*` views after a good load. The data is loaded by then, so a SQL
    dialect that cannot build a view is a note in the summary, not a failed sync. Views
    whose tables are missing are named in one note - unless the user chose a selection of
    resources, where missing tables are expected."""
    try:
        result = install_views(pipeline, timezone)
    except DatabaseException as exc:
        return [f"views not installed: {redact(str(exc)).splitlines()[0]}"]
    if not result.skipped or selection:
        return []
    return [f"views not installed until their tables are loaded: {', '.join(sorted(result.skipped))}"]


def rows_written(normalized: NormalizeInfo | None, tables) -> dict[str, int]:
    """Rows this run wrote per table (after incremental filtering)."""
    counts = normalized.row_counts if normalized else {}
    return {table: counts.get(table, 0) for table in tables}


class StepTracker:
    """Which step of the run is under way, passed on to the progress display."""

    def __init__(self, progress: Progress):
        self.progress, self.current = progress, "starting"

    def enter(self, name: str) -> None:
        self.current = name
        self.progress.phase(name)


def run_steps(pipeline: dlt.Pipeline, source, full_refresh: bool, traits: DestinationTraits,
              steps: StepTracker, hold: DuckDbHold | None = None) -> NormalizeInfo:
    """dlt's `pipeline.run`, one step at a time (as `run` does them: pending packages were
    finished and state restored before), so that the progress display can show each step
    and an interrupt knows which one it struck (`interrupted`)."""
    steps.enter("reading")
    pipeline.extract(source, refresh="drop_resources" if full_refresh else None,
                     loader_file_format=traits.file_format, max_parallel_items=EXTRACT_SLOTS,
                     **traits.run_options)
    steps.enter("normalizing")
    normalized = pipeline.normalize()
    steps.enter("loading")
    if traits.duckdb and hold is not None:
        hold.open(pipeline)
    pipeline.load()
    return normalized


def interrupted(pipeline: dlt.Pipeline, step: str) -> RunInterrupted:
    """Ctrl-C: before the load, the run's extracted data and state are discarded (nothing of
    it reached the destination); during the load, the package stays, and the next run
    finishes loading it before it reads anything (finish_pending_packages)."""
    if step != "loading":
        discard_failed_run(pipeline)
        return RunInterrupted(f"interrupted while {step}; nothing of this run was loaded")
    return RunInterrupted("interrupted while loading; the next run finishes this run's load before it reads anything")
