"""The dlt source: one dlt resource per declaration, reading through one ApiClient.

`pmcrm_source(...)` is the library entry point; the CLI is a thin layer over it. Its
arguments are read from dlt's config and secrets like any dlt source
(`[sources.pmcrm] base_url = ...`, `SOURCES__PMCRM__API_KEY`, ...).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator, Optional, Sequence

import dlt
import pyarrow as pa

from pmcrm.client import DEFAULT_CONCURRENCY, ApiClient, HttpSettings, Page, RequestStats
from pmcrm.convert import PageConverter, TableBatcher
from pmcrm.declarations import RESOURCES, RESOURCES_BY_NAME, ResourceSpec
from pmcrm.deletions import ReadLedger, deleted_at_column
from pmcrm.incremental import (
    DEFAULT_OVERLAP_SECONDS,
    ServerFilter,
    cursor_for,
    parse_start_date,
    read_since,
    to_api_time,
)
from pmcrm.pages import EndpointReader, PageBudget
from pmcrm.progress import NO_PROGRESS, Progress
from pmcrm.tuning import release_free_memory

SOURCE_NAME = "pmcrm"
# Pages fetched ahead of their reader, per allowed connection (see pages.PageBudget).
READ_AHEAD_PER_CONNECTION = 2


@dataclass(frozen=True)
class ReadOptions:
    """How rows are read and shaped on the way in (shared by all resources)."""

    path_prefix: str = ""
    timezone: str = "UTC"
    neutral_names: bool = True
    incremental: bool = True
    start_date: datetime | None = None
    overlap_seconds: float = DEFAULT_OVERLAP_SECONDS
    server_filter: ServerFilter | None = None
    track_deletions: bool = True


def api_path(spec: ResourceSpec, path_prefix: str = "") -> str:
    """The request path; `path_prefix` is a segment some deployments put between the
    version and the module: '/v1/task/tasks/list' -> '/v1/<prefix>/task/tasks/list'."""
    prefix = path_prefix.strip("/")
    if not prefix:
        return spec.path
    version, rest = spec.path.lstrip("/").split("/", 1)
    return f"/{version}/{prefix}/{rest}"


def select_resources(names: Sequence[str] | None) -> list[ResourceSpec]:
    if not names:
        return list(RESOURCES)
    unknown = [name for name in names if name not in RESOURCES_BY_NAME]
    if unknown:
        raise ValueError(
            f"unknown resource(s): {', '.join(unknown)}. Run 'pmcrm resources' for the list."
        )
    return [RESOURCES_BY_NAME[name] for name in names]


def is_incremental(spec: ResourceSpec, options: ReadOptions) -> bool:
    return options.incremental and spec.cursor is not None


class _ResourceRun:
    """Reads one resource for one run: request params, early stop, rows, ids seen."""

    def __init__(self, spec: ResourceSpec, client: ApiClient, pool: ThreadPoolExecutor,
                 options: ReadOptions, ledger: ReadLedger, progress: Progress = NO_PROGRESS,
                 budget: PageBudget | None = None):
        self.spec, self.client, self.pool, self.options, self.ledger = spec, client, pool, options, ledger
        self.progress = progress
        self.budget = budget
        self.converter = PageConverter(spec, options.neutral_names, options.timezone)
        self.path = api_path(spec, options.path_prefix)

    def tables(self, since: datetime | None) -> Iterator[pa.Table]:
        server = self.options.server_filter if since is not None else None
        params = server.params(since, self.options.timezone) if server else {}
        reader = EndpointReader(
            self.spec.name,
            self.spec.page_size,
            lambda number: self._fetch(number, params),
            self.pool,
            window=self.client.settings.concurrency,
            stop_after=self._older_than(since) if server and server.newest_first and not server.since_param else None,
            budget=self.budget,
        )
        batcher = TableBatcher(self.converter)
        for number, items in enumerate(reader, start=1):
            self.client.stats.add("rows", self.spec.name, len(items))
            self.progress.advance(self.spec.name, rows=len(items))
            self._count_bad(batcher.add(items, number))
            del items  # nothing bound across the yield: dozens of readers wait suspended
            if batcher.ready:
                yield batcher.take()
        self._count_bad(batcher.flush())
        if batcher.ready:
            yield batcher.take()
        # The declared schema, no rows: creates the table even when the endpoint is empty
        # or the incremental filter dropped every row of a first run.
        yield self.converter.empty_table()
        complete = not reader.stopped_early and not (server and server.since_param)
        if complete and self.spec.write_disposition == "merge" and self.options.track_deletions:
            # The reader's keys are the ids of every row it yielded (merge rows have ids).
            self.ledger.record_complete(self.spec.name, reader.seen.values())
        self.progress.finished(self.spec.name)
        release_free_memory()

    def _count_bad(self, bad_values: list) -> None:
        for bad in bad_values:
            self.client.stats.add("bad_values", f"{bad.resource}.{bad.column}")

    def _fetch(self, number: int, params: dict) -> Page:
        """One page; page 1 tells the progress observer how many rows to expect."""
        page = self.client.fetch_page(self.spec.name, self.path, number, self.spec.page_size, params)
        if number == 1:
            self.progress.total(self.spec.name, page.total, self.spec.page_size)
        self.progress.advance(self.spec.name, pages=1)
        return page

    def _older_than(self, since: datetime):
        """With newest-first order: stop after the page whose oldest row predates `since`."""
        boundary = to_api_time(since, self.options.timezone)
        cursor = self.spec.cursor

        def page_reaches_boundary(page: Page) -> bool:
            stamps = [item.get(cursor) for item in page.items]
            stamps = [s for s in stamps if isinstance(s, str) and s[:4] not in ("", "0000")]
            return bool(stamps) and min(stamps) < boundary

        return page_reaches_boundary


def _resource(spec: ResourceSpec, run: _ResourceRun, options: ReadOptions):
    # Column types travel in the arrow tables (pmcrm.convert types every declared column,
    # and an empty resource still yields its full typed schema). Declaring them here as
    # well made dlt re-validate ~60 column hints on every item: ~15 ms an item, most of
    # the extract's CPU. Only what no row carries is declared.
    columns = {}
    if spec.write_disposition == "merge" and options.track_deletions:
        columns[deleted_at_column()["name"]] = deleted_at_column()
    hints = dict(
        name=spec.name,
        write_disposition=spec.write_disposition,
        primary_key=spec.primary_key,
        columns=columns,
        parallelized=True,
    )
    if not is_incremental(spec, options):

        def all_tables() -> Iterator[pa.Table]:
            yield from run.tables(since=None)

        return dlt.resource(all_tables, **hints)

    def incremental_tables(
        updated=cursor_for(spec.cursor, options.start_date, options.overlap_seconds),
    ) -> Iterator[pa.Table]:
        yield from run.tables(since=read_since(updated))

    return dlt.resource(incremental_tables, **hints)


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def pmcrm_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    resources: Sequence[str] | None = None,
    path_prefix: str = "",
    timezone: str = "UTC",
    neutral_names: bool = True,
    incremental: bool = True,
    start_date: str | None = None,
    overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
    server_filter: str | None = None,
    server_sort: str | None = None,
    track_deletions: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate_limit: float | None = None,
    request_timeout: float = 30.0,
    max_attempts: int = 5,
    backoff_factor: float = 1.0,
    stats: Optional[RequestStats] = None,
    ledger: Optional[ReadLedger] = None,
    progress: Optional[Progress] = None,
) -> Any:
    """All 36 resources of the platform (or `resources`), typed and ready to load.

    `timezone` is the account's time zone, used to read the API's naive timestamps;
    `neutral_names=False` keeps the API's own column names (crm_account_id, ...);
    `incremental` keeps a cursor per resource with an update timestamp (`start_date`
    bounds the first run; `overlap_seconds` re-reads a window to be safe);
    `server_filter`/`server_sort` declare the deployment's filter syntax, e.g.
    'updated_since' and 'sort=updated_asc' (off by default);
    `concurrency` bounds requests in flight; `rate_limit` caps requests per second.
    Pass a `RequestStats` as `stats` to read the run's requests, retries and rows, and a
    `ReadLedger` as `ledger` to learn which resources were read completely (deletions),
    and a `pmcrm.progress.Progress` as `progress` to follow rows and pages as they arrive.
    """
    settings = HttpSettings(
        timeout=request_timeout,
        max_attempts=max_attempts,
        backoff_factor=backoff_factor,
        concurrency=concurrency,
        rate_limit=rate_limit,
    )
    client = ApiClient(base_url, api_key, settings, stats)
    pool = ThreadPoolExecutor(max_workers=max(concurrency, 1), thread_name_prefix="pmcrm-page")
    budget = PageBudget(READ_AHEAD_PER_CONNECTION * max(concurrency, 1))
    options = ReadOptions(
        path_prefix=path_prefix,
        timezone=timezone,
        neutral_names=neutral_names,
        incremental=incremental,
        start_date=parse_start_date(start_date, timezone),
        overlap_seconds=overlap_seconds,
        server_filter=ServerFilter.parse(server_filter, server_sort),
        track_deletions=track_deletions,
    )
    ledger = ledger if ledger is not None else ReadLedger()
    return [
        _resource(spec, _ResourceRun(spec, client, pool, options, ledger, progress or NO_PROGRESS, budget), options)
        for spec in select_resources(resources)
    ]
