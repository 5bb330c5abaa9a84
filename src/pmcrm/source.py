"""The dlt source: one dlt resource per declaration, reading through one ApiClient.

`pmcrm_source(...)` is the library entry point; the CLI is a thin layer over it. Its
arguments are read from dlt's config and secrets like any dlt source
(`[sources.pmcrm] base_url = ...`, `SOURCES__PMCRM__API_KEY`, ...).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import dlt
import pyarrow as pa

from pmcrm.client import ApiClient, HttpSettings, RequestStats
from pmcrm.convert import PageConverter
from pmcrm.declarations import RESOURCES, RESOURCES_BY_NAME, ResourceSpec
from pmcrm.pages import EndpointReader
from pmcrm.schema import table_columns

SOURCE_NAME = "pmcrm"


@dataclass(frozen=True)
class ReadOptions:
    """How rows are shaped on the way in (shared by all resources)."""

    path_prefix: str = ""
    timezone: str = "UTC"
    neutral_names: bool = True


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


def _resource(spec: ResourceSpec, client: ApiClient, pool: ThreadPoolExecutor, options: ReadOptions):
    converter = PageConverter(spec, options.neutral_names, options.timezone)
    path = api_path(spec, options.path_prefix)

    def read() -> Iterator[pa.Table]:
        reader = EndpointReader(
            spec.name,
            spec.page_size,
            lambda page: client.fetch_page(spec.name, path, page, spec.page_size),
            pool,
            window=client.settings.concurrency,
        )
        loaded = 0
        for number, items in enumerate(reader, start=1):
            converted = converter(items, page=number)
            client.stats.add("rows", spec.name, len(items))
            for bad in converted.bad_values:
                client.stats.add("bad_values", f"{bad.resource}.{bad.column}")
            loaded += len(items)
            yield converted.table
        if loaded == 0:
            yield converter.empty_table()  # so an empty endpoint still has its table

    return dlt.resource(
        read,
        name=spec.name,
        write_disposition=spec.write_disposition,
        primary_key=spec.primary_key,
        columns=table_columns(spec, options.neutral_names),
        parallelized=True,
    )


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def pmcrm_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    resources: Sequence[str] | None = None,
    path_prefix: str = "",
    timezone: str = "UTC",
    neutral_names: bool = True,
    concurrency: int = 8,
    rate_limit: float | None = None,
    request_timeout: float = 30.0,
    max_attempts: int = 5,
    backoff_factor: float = 1.0,
    stats: Optional[RequestStats] = None,
) -> Any:
    """All 36 resources of the platform (or `resources`), typed and ready to load.

    `timezone` is the account's time zone, used to read the API's naive timestamps;
    `neutral_names=False` keeps the API's own column names (crm_account_id, ...);
    `concurrency` bounds requests in flight; `rate_limit` caps requests per second.
    Pass a `RequestStats` as `stats` to read the run's requests, retries and rows.
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
    options = ReadOptions(path_prefix, timezone, neutral_names)
    return [_resource(spec, client, pool, options) for spec in select_resources(resources)]

