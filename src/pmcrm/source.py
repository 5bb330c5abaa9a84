"""The dlt source: one dlt resource per declaration, reading through one ApiClient.

`pmcrm_source(...)` is for people who compose their own dlt pipeline; `pmcrm.run_sync`
(pmcrm.pipeline) is the entry point that keeps every guarantee of a sync (see the
README's table). `base_url` and `api_key` are read from dlt's config and secrets like any
dlt source (`[sources.pmcrm] base_url = ...`, `SOURCES__PMCRM__API_KEY`, ...).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt
import pyarrow as pa
from dlt.common.configuration import configspec
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.schema.utils import has_table_seen_data

from pmcrm import remembered_limit
from pmcrm.admission import Admission
from pmcrm.client import ApiClient, Page
from pmcrm.convert import PageConverter, TableBatcher
from pmcrm.declarations import RESOURCES, RESOURCES_BY_NAME, ResourceSpec
from pmcrm.deletions import ReadLedger, deleted_at_column
from pmcrm.errors import SettingsError, UnavailableError
from pmcrm.findings import RunFindings
from pmcrm.incremental import (
    DEFAULT_OVERLAP_SECONDS,
    FilterCheck,
    LoadedOverlap,
    ServerFilter,
    cursor_for,
    parse_start_date,
    read_since,
    to_api_time,
    unchanged_rows_dropped,
)
from pmcrm.memory import release_free_memory
from pmcrm.pages import EndpointReader, PageBudget, SeenKeys, row_key, served_page_size
from pmcrm.progress import NO_PROGRESS, Progress
from pmcrm.transport import HttpSettings, RequestStats
from pmcrm.unchanged import STREAMED, HeldTables, RowsFingerprint
from pmcrm.waits import Waiting, awaiting, blocking

SOURCE_NAME = "pmcrm"
# Source state key: resource -> when it was last read completely (ISO time, UTC). In the
# source's state, not each resource's: dlt resets a `replace` resource's state every run.
LAST_COMPLETE_READS = "last_complete_reads"
LAST_PAGES = "last_pages"  # resource -> its last page in its last complete full read
OVERLAP_ROWS = "overlap_rows"  # resource -> hashes of the overlap window's rows loaded (LoadedOverlap)
# Resource state key (a full refresh resets it with the table): the RowsFingerprint of a
# full read's rows as last loaded.
LOADED_FINGERPRINT = "loaded_fingerprint"
# Pages fetched ahead of their reader, per allowed connection (see pages.PageBudget).
READ_AHEAD_PER_CONNECTION = 2


@dataclass(frozen=True)
class ReadOptions:
    """How rows are read and shaped on the way in; each field is the `pmcrm sync` flag of
    the same name (`incremental=False` is `--no-incremental`; `overlap_seconds` has no flag)."""

    timezone: str = "UTC"  # the account's: API timestamps carry none
    keep_api_names: bool = False  # crm_account_id / crm_company_id instead of customer_id
    incremental: bool = True
    start_date: str | None = None  # first run: rows updated since (account time)
    server_filter: str | None = None  # 'platform', PARAM or PARAM=TEMPLATE (pmcrm.incremental)
    server_sort: str | None = None  # 'platform' or PARAM=VALUE
    overlap_seconds: float = DEFAULT_OVERLAP_SECONDS  # re-read window before the cursor

    def parsed(self) -> ReadPlan:
        """Checked and parsed once per run: a bad value is a settings error (exit 2)
        before any request, with what to write instead."""
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"unknown time zone {self.timezone!r}: use an IANA zone such as "
                                "Europe/Berlin or America/New_York") from None
        try:
            return ReadPlan(self, parse_start_date(self.start_date, self.timezone),
                            ServerFilter.parse(self.server_filter, self.server_sort))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None


@dataclass(frozen=True)
class ReadPlan:
    """ReadOptions parsed: the start date as a moment, the server filter as parts."""

    options: ReadOptions
    start_date: datetime | None
    server_filter: ServerFilter | None
    track_deletions: bool = True


@dataclass
class RunRecord:
    """What a run's readers report while they read (all thread-safe): requests, retries and
    rows (`stats`), the resources read completely (`ledger`, for deletions), what was
    learnt about the API (`findings`), and live `progress`."""

    stats: RequestStats = field(default_factory=RequestStats)
    ledger: ReadLedger = field(default_factory=ReadLedger)
    findings: RunFindings = field(default_factory=RunFindings)
    progress: Progress = NO_PROGRESS


def select_resources(names: Sequence[str] | None) -> list[ResourceSpec]:
    if not names:
        return list(RESOURCES)
    unknown = [name for name in names if name not in RESOURCES_BY_NAME]
    if unknown:
        raise SettingsError(
            f"unknown resource(s): {', '.join(unknown)}. Run 'pmcrm resources' for the list."
        )
    return [RESOURCES_BY_NAME[name] for name in names]


def is_incremental(spec: ResourceSpec, plan: ReadPlan) -> bool:
    return plan.options.incremental and spec.cursor is not None


class _ResourceRun:
    """Reads one resource for one run: request params, early stop, rows, ids seen, and
    what it learns about the API (pmcrm.findings)."""

    def __init__(self, spec: ResourceSpec, client: ApiClient, pool: ThreadPoolExecutor, plan: ReadPlan,
                 record: RunRecord, budget: PageBudget | None = None):
        self.spec, self.client, self.pool, self.plan = spec, client, pool, plan
        self.timezone = plan.options.timezone
        self.ledger, self.progress, self.findings = record.ledger, record.progress, record.findings
        self.budget = budget
        self.converter = PageConverter(spec, not plan.options.keep_api_names, self.timezone)
        self._fetched: set[int] = set()  # page numbers fetched in this run (re-reads are counted apart)
        self._fetched_lock = threading.Lock()

    def tables(self, since: datetime | None) -> Iterator[pa.Table]:
        """The tables of `steps`, waiting for pages in this thread."""
        return blocking(self.steps(since))

    def steps(self, since: datetime | None) -> Generator[pa.Table | Waiting, None, None]:
        """Typed tables of the resource's rows, and a `Waiting` wherever a page is not
        fetched yet (pmcrm.waits). A resource the key cannot read (its first
        page says so) yields nothing at all - its table stays exactly as it was - and is
        reported in the findings. dlt's source state (loaded with the data) remembers when
        each resource last read completely (LAST_COMPLETE_READS), to tell revoked rights
        apart, and the number of its last page (LAST_PAGES), which the next full read
        checks first (one request fewer: pmcrm.pages). A merged resource without update
        timestamp is loaded only if its rows differ from those it loaded last (unchanged.py).
        The rate limit an earlier run learnt paces the first request, and what this run
        knows of it is kept as each resource ends (pmcrm.remembered_limit)."""
        # Looked up once (dlt's context lookup costs ~1 ms); the dict lives for the whole run.
        state = dlt.current.source_state()
        remembered_limit.recall(state, self.client.limiter, self.client.origin)
        try:
            yield from self._steps(since, state)
        finally:
            remembered_limit.keep(state, self.client.limiter, self.client.origin)

    def _steps(self, since: datetime | None, state: dict) -> Generator[pa.Table | Waiting, None, None]:
        last_reads, last_pages = (state.setdefault(key, {}) for key in (LAST_COMPLETE_READS, LAST_PAGES))
        batcher = TableBatcher(self.converter)
        fingerprint, loaded, held = self._unchanged_check()
        try:
            complete = yield from self._read(since, batcher, last_pages, state.setdefault(OVERLAP_ROWS, {}),
                                             fingerprint, held)
        except UnavailableError as exc:
            if exc.page != 1 or batcher.pages:
                raise
            self.findings.resource_unavailable(exc, last_reads.get(self.spec.name))
            keep_table_as_it_is()
            self.progress.finished(self.spec.name, note=f"skipped: {exc.reason}")
            return
        self.progress.finished(self.spec.name)  # read; what is left is handing rows to dlt
        self._count_bad(batcher.flush())
        if batcher.ready:
            yield from held.put(batcher.take())
        if complete is not None and held.holding and fingerprint.value() == loaded:
            held.release()  # the rows the table already holds
        else:
            yield from held.release()
            if self._table_needs_declaring(since, batcher):
                yield self.converter.empty_table()
        if complete is not None:
            if fingerprint is not None:
                dlt.current.resource_state()[LOADED_FINGERPRINT] = fingerprint.value()
            last_reads[self.spec.name] = datetime.now(UTC).isoformat(timespec="seconds")
            last_page = complete.last_page
            if last_page is not None:
                last_pages[self.spec.name] = last_page
            if self.spec.write_disposition == "merge" and self.plan.track_deletions:
                # The reader's keys are the ids of every row it yielded (merge rows have ids).
                self.ledger.record_complete(self.spec.name, complete.seen.values())
        release_free_memory()

    def _table_needs_declaring(self, since: datetime | None, batcher: TableBatcher) -> bool:
        """The declared schema with no rows creates the table even when the endpoint is
        empty or the incremental filter dropped every row of a first run, adds a column a
        newer pmcrm declares, and empties a `replace` table. Not needed when typed rows
        went to dlt with no incremental bound to filter them (no cursor, or none yet: a
        first sync): every typed table carries every declared column, so those rows do all
        of that (36 empty tables were ~0.15 s of a first sync's extract). Nor for a merged
        table that has seen data with every declared column: it would gain nothing but a
        load job of no rows (a staging table, a delete, an insert), 26 of them on a sync
        where nothing changed."""
        if batcher.tables_made and since is None:
            return False
        return not self._merged_into_complete_table()

    def _merged_into_complete_table(self) -> bool:
        """Merged (not appended as a first load, nor replaced) into a table that has seen
        data and has every declared column, as dlt's schema knows it."""
        if dlt.current.get_resource().write_disposition != "merge":
            return False
        schema = dlt.current.source_schema()
        table = schema.tables.get(self.spec.name)
        if table is None or not has_table_seen_data(table):
            return False
        declared = {schema.naming.normalize_identifier(name) for name in self.converter.empty_table().schema.names}
        return declared <= set(table["columns"])

    def _unchanged_check(self) -> tuple[RowsFingerprint | None, str | None, HeldTables]:
        """For a merged resource without update timestamp: the fingerprint of this read's
        rows, the one last loaded, and its tables held back while they may match it."""
        if self.spec.cursor is not None or self.spec.write_disposition != "merge":
            return None, None, STREAMED
        fingerprint = RowsFingerprint(f"{self._conversion()}|{sorted(self.spec.columns().items())}")
        loaded = dlt.current.resource_state().get(LOADED_FINGERPRINT)
        holding = loaded is not None and self._merged_into_complete_table()
        return fingerprint, loaded, HeldTables(holding) if holding else STREAMED

    def _read(self, since: datetime | None, batcher: TableBatcher, last_pages: dict, overlap_rows: dict,
              fingerprint: RowsFingerprint | None = None,
              held: HeldTables = STREAMED) -> Generator[pa.Table, None, EndpointReader | None]:
        """Rows through the server filter when one applies, checked row by row; if the API
        did not apply it, the resource is read again in full (rows already yielded are
        not yielded twice). Returns the reader of the full read when the read was
        complete (its keys: every row read), else None."""
        # Only the read below remembers them again: a read of any other kind (filtered, not
        # incremental) may merge other versions of those rows.
        loaded_overlap = overlap_rows.pop(self.spec.name, ())
        server = self.plan.server_filter if since is not None else None
        if server is None:
            reader = self._reader({}, last_page_hint=last_pages.get(self.spec.name))
            newer = (unchanged_rows_dropped(self.spec.cursor, since, self.timezone)
                     if isinstance(since, datetime) else None)
            overlap = self._overlap(since, loaded_overlap) if is_incremental(self.spec, self.plan) else None
            if overlap is not None:
                newer = overlap if newer is None else (lambda items, older=newer: overlap(older(items)))
            if fingerprint is not None:  # a resource without update timestamp: nothing else filters
                newer = fingerprint.add
            yield from self._batches(reader.steps(), batcher, newer=newer, held=held)
            remembered = overlap.remembered() if overlap is not None else None
            if remembered is not None:
                overlap_rows[self.spec.name] = remembered
            return reader
        cursor = self.spec.cursor
        since_text = to_api_time(since, self.timezone) if server.since_param else None
        check = FilterCheck(cursor, since_text, server.sorted)
        early_stop = server.newest_first and not server.since_param
        reader = self._reader(server.params(since, self.timezone, cursor),
                              self._older_than(since) if early_stop else None)
        delivered = SeenKeys()  # the rows checked and passed on (a filtered read is small)
        try:
            yield from self._batches(reader.steps(), batcher, check, delivered)
        except ServerFilterIgnored as ignored:
            self.findings.filter_ignored(self.spec.name, str(ignored))
            reader = self._reader({}, already_yielded=delivered)
            yield from self._batches(reader.steps(), batcher)
            return reader
        return None  # a filtered read holds only what changed: no deletions can be told

    def _overlap(self, since: datetime | None, loaded: list[str]) -> LoadedOverlap:
        """Rows of the overlap window `loaded` last time are dropped when read unchanged; on
        a first read (no bound yet) there are none, and this read's are remembered."""
        return LoadedOverlap(self.spec.cursor, loaded if isinstance(since, datetime) else (),
                             self.plan.options.overlap_seconds, self._conversion())

    def _conversion(self) -> str:
        """What turns the same raw row into another loaded row: salts the rows' hashes."""
        options = self.plan.options
        return f"{self.spec.name}|{options.timezone}|{options.keep_api_names}"

    def _reader(self, params: dict, stop_after=None, already_yielded: SeenKeys | None = None,
                last_page_hint: int | None = None) -> EndpointReader:
        return EndpointReader(
            self.spec.name,
            self.spec.page_size,
            lambda number: self._fetch(number, params),
            self.pool,
            window=self.client.settings.concurrency,
            stop_after=stop_after,
            budget=self.budget,
            already_yielded=already_yielded,
            on_page_size=self.findings.page_size,
            last_page_hint=last_page_hint,
        )

    def _batches(self, pages: Iterable[list | Waiting], batcher: TableBatcher, check: FilterCheck | None = None,
                 delivered: SeenKeys | None = None, newer: Callable[[list], list] | None = None,
                 held: HeldTables = STREAMED) -> Iterator[pa.Table | Waiting]:
        """Pages' new rows (EndpointReader.steps) into typed tables, waits passed on;
        `newer` drops rows that dlt's incremental would drop anyway, before they are
        converted (they still count as read); `held` may hold the tables back."""
        for items in pages:
            if type(items) is Waiting:
                yield items
                continue
            if check is not None:
                evidence = check.ignored_by(items)
                if evidence is not None:
                    raise ServerFilterIgnored(evidence)
                for item in items:
                    delivered.add(row_key(item))
            self.client.stats.add("rows", self.spec.name, len(items))
            self.progress.advance(self.spec.name, rows=len(items))
            if newer is not None:
                items = newer(items)
            self._count_bad(batcher.add(items, batcher.pages + 1))
            del items  # nothing bound across the yield: dozens of readers wait suspended
            if batcher.ready:
                yield from held.put(batcher.take())

    def _count_bad(self, bad_values: list) -> None:
        for bad in bad_values:
            self.client.stats.add("bad_values", f"{bad.resource}.{bad.column}")

    def _fetch(self, number: int, params: dict) -> Page:
        """One page; the first page 1 tells the progress observer how many rows and pages to
        expect (at the server's page size); a page number fetched again is a re-read."""
        page = self.client.fetch_page(self.spec.name, self.spec.path, number, self.spec.page_size, params)
        with self._fetched_lock:
            again = number in self._fetched
            self._fetched.add(number)
        if number == 1 and not again:
            size = served_page_size(page, self.spec.page_size) or self.spec.page_size
            self.progress.total(self.spec.name, page.total, size)
        self.progress.advance(self.spec.name, pages=0 if again else 1, rereads=1 if again else 0)
        return page

    def _older_than(self, since: datetime):
        """With newest-first order: stop after the page whose oldest row predates `since`."""
        boundary = to_api_time(since, self.timezone)
        cursor = self.spec.cursor

        def page_reaches_boundary(page: Page) -> bool:
            stamps = [item.get(cursor) for item in page.items]
            stamps = [s for s in stamps if isinstance(s, str) and s[:4] not in ("", "0000")]
            return bool(stamps) and min(stamps) < boundary

        return page_reaches_boundary


class ServerFilterIgnored(Exception):
    """Rows showed that the API did not apply the server filter or sort (internal)."""


def _resource(spec: ResourceSpec, run: _ResourceRun, plan: ReadPlan, admission: Admission | None = None):
    # Column types travel in the arrow tables (pmcrm.convert types every declared column,
    # and an empty resource still yields its full typed schema). Declaring them here as
    # well made dlt re-validate ~60 column hints on every item: ~15 ms an item, most of
    # the extract's CPU. Only what no row carries is declared.
    columns = {}
    if spec.write_disposition == "merge" and plan.track_deletions:
        columns[deleted_at_column()["name"]] = deleted_at_column()
    hints = dict(
        name=spec.name,
        write_disposition=spec.write_disposition,
        primary_key=spec.primary_key,
        columns=columns,
        spec=NothingToResolve,
    )
    # Async generators: dlt runs them on one event loop, where a read waiting for its
    # pages holds no thread (pmcrm.waits), and `admission` says how many read at once.
    if not is_incremental(spec, plan):

        async def all_tables() -> AsyncIterator[pa.Table]:
            async for table in awaiting(run.steps(since=None), admission):
                handed = [table]  # nothing holds it across the yield (handed_over)
                del table
                yield handed.pop()

        resource = dlt.resource(all_tables, **hints)
    else:

        async def incremental_tables(
            updated=cursor_for(spec.cursor, plan.start_date, plan.options.overlap_seconds),  # noqa: B008 - dlt's way
        ) -> AsyncIterator[pa.Table]:
            async for table in awaiting(run.steps(since=read_since(updated)), admission):
                handed = [table]
                del table
                yield handed.pop()

        resource = dlt.resource(incremental_tables, **hints)
    return resource


@configspec
class NothingToResolve(BaseConfiguration):
    """A resource function's settings: none. Why: without it dlt derives them from the
    function's signature, and the incremental argument's fields (initial value, end
    value, lag, ...) are looked up in every config provider and section each time a
    resource starts: ~4 ms per resource, 26 times a sync (benchmarks/README.md, run J).
    pmcrm sets the cursor's start itself (`--start-date`)."""


def keep_table_as_it_is() -> None:
    """Called inside a resource's read when it yields nothing and its table must stay as
    it was. Why: dlt truncates the table of a `replace` resource that yielded nothing (its
    extract step, `_handle_empty_tables`, reads the resource's disposition after the read,
    from the source's own copy of the resource - hence `dlt.current.get_resource()`).
    As append, nothing written means nothing changed."""
    dlt.current.get_resource().apply_hints(write_disposition="append")


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def pmcrm_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    resources: Sequence[str] | None = None,
    path_prefix: str = "",
    read_options: ReadOptions | None = None,
    http_settings: HttpSettings | None = None,
    track_deletions: bool = True,
    run_record: RunRecord | None = None,
    adaptive_reads: bool = False,
) -> Any:
    """All 36 resources of the platform (or `resources`), typed and ready to load.

    `base_url` may be the platform docs' form (https://acme.<host>/api/v1/module) or a
    bare host: the URL form is learnt from the first answer (pmcrm.urls; `path_prefix`
    sets the segment after /v1 yourself). `read_options` says how rows are read and
    shaped, `http_settings` how hard to try; `track_deletions` records the ids of complete
    reads in `run_record.ledger` (applying them needs `run_sync`). Pass a `RunRecord` to
    read the run's requests, rows, unavailable resources and progress as they happen.
    `adaptive_reads`: the resources take turns, as many reading at once as keep the CPU
    busy (pmcrm.admission); a turn needs a free slot in dlt's extract, so extract with
    `max_parallel_items` above the number of resources (run_sync does), or the read hangs.
    Without it every resource reads at once.
    Used on its own this source keeps the read's guarantees (every row or a loud failure,
    unavailable resources skipped); the run's (lock, atomic snapshots, deletions, failed
    runs discarded, `_pmcrm_runs`) need `pmcrm.run_sync` - see the README's table.
    """
    http = http_settings or HttpSettings()
    plan = (read_options or ReadOptions()).parsed()
    if not track_deletions:
        plan = ReadPlan(plan.options, plan.start_date, plan.server_filter, track_deletions=False)
    record = run_record or RunRecord()
    client = ApiClient(base_url, api_key, http, record.stats, path_prefix, endpoint_tails())
    record.findings.locations, record.findings.pacer = client.locations, client.limiter
    # Optional: a progress object written for the four methods the README names works as before.
    client.limiter.on_limit = getattr(record.progress, "limit_learnt", None)
    pool = ThreadPoolExecutor(max_workers=max(http.concurrency, 1), thread_name_prefix="pmcrm-page")
    budget = PageBudget(READ_AHEAD_PER_CONNECTION * max(http.concurrency, 1))
    admission = Admission(most=max(http.concurrency, 1)) if adaptive_reads else None
    return [
        _resource(spec, _ResourceRun(spec, client, pool, plan, record, budget), plan, admission)
        for spec in select_resources(resources)
    ]


def endpoint_tails() -> list[str]:
    """The declared paths after '/v1/': a pasted endpoint URL is cut back to its base."""
    return [spec.path.split("/", 2)[2] for spec in RESOURCES]
